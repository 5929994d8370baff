"""Mask detection: ms per look and no-mask recall / precision on labelled photos.

A folder with with_mask/ and without_mask/ sub-folders (default: the 80 dev photos in
tests/data/face-mask). A photo counts as "no mask" predicted when its main face is unmasked;
no face found counts as not predicted (at the gate it refers, it never admits).
Usage: .venv/bin/python bench/mask.py [--photos DIR] [--threads 1] [--tune]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402

from hardware.vision.face_mask import MaskDetector  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "data" / "face-mask"


def scores(det: MaskDetector, folder: Path) -> tuple[list[tuple[bool, float | None]], list[float]]:
    """(truly unmasked, main face's p(no mask) or None) per photo, and ms per look."""
    rows, ms = [], []
    for label, unmasked in (("with_mask", False), ("without_mask", True)):
        for path in sorted((folder / label).iterdir()):
            frame = cv2.imread(str(path))
            if frame is None:
                continue
            faces = det.look(frame)
            ms.append(det.last_ms)
            main = max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None
            rows.append((unmasked, main.no_mask_p if main else None))
    return rows, ms


def recall_precision(rows: list[tuple[bool, float | None]], threshold: float) -> tuple[float, float, int]:
    """No-mask recall, precision, and photos with no face found."""
    tp = sum(1 for truth, p in rows if truth and p is not None and p >= threshold)
    fp = sum(1 for truth, p in rows if not truth and p is not None and p >= threshold)
    positives = sum(1 for truth, _ in rows if truth)
    return tp / max(positives, 1), tp / max(tp + fp, 1), sum(1 for _, p in rows if p is None)


def main() -> None:
    """Print the figures as a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=DEFAULT, help="folder with with_mask/ and without_mask/")
    parser.add_argument("--threads", type=int, default=1, help="LiteRT threads per look")
    parser.add_argument("--tune", action="store_true", help="also sweep the no-mask threshold")
    args = parser.parse_args()
    det = MaskDetector(threads=args.threads)
    rows, ms = scores(det, args.photos)
    recall, precision, no_face = recall_precision(rows, det.no_mask_threshold)
    ordered = sorted(ms)
    print(f"| photos | ms/look median | ms/look p95 | no-mask recall | no-mask precision | no face found |")
    print("|---|---|---|---|---|---|")
    print(f"| {len(rows)} ({args.photos.name}) | {statistics.median(ms):.1f} | {ordered[int(0.95 * (len(ordered) - 1))]:.1f} "
          f"| {100 * recall:.1f}% | {100 * precision:.1f}% | {no_face} |")
    if args.tune:
        print("\n| threshold | recall | precision |\n|---|---|---|")
        for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
            r, p, _ = recall_precision(rows, t)
            print(f"| {t} | {100 * r:.1f}% | {100 * p:.1f}% |")


if __name__ == "__main__":
    main()
