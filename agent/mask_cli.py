"""`checkpoint mask`: faces and masks in image files, one JSON line per file (the gate's own model)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import cv2

from hardware.vision.face_mask import NO_MASK_THRESHOLD, MaskDetector
from protocols.errors import ConfigError


def look_file(path: Path, detector: MaskDetector) -> dict[str, object]:
    """The JSON-ready result for one image: its faces and the look's time, or why it could not be read."""
    frame = cv2.imread(str(path)) if path.is_file() else None
    if frame is None:
        return {"file": str(path), "error": f"not a readable image: {path}"}
    start = time.perf_counter()
    faces = detector.look(frame)
    return {"file": str(path), "faces": [f.as_json() for f in faces], "ms": round((time.perf_counter() - start) * 1000, 2)}


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--threads", default=1, show_default=True, type=click.IntRange(1, 4), help="LiteRT threads per look.")
@click.option("--no-mask-threshold", default=NO_MASK_THRESHOLD, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="p(no mask) from which a face counts as unmasked.")
def mask(images: tuple[Path, ...], threads: int, no_mask_threshold: float) -> None:
    """Find faces and masks in image files: one JSON line per file.

    Each line is {"file": ..., "faces": [{"mask": true|false, "score": ..., "box": [x, y, w, h]}], "ms": ...}
    (faces: [] when none is found), or {"file": ..., "error": ...} for a file that cannot be read; the
    exit code is then 1. Example: checkpoint mask photo.jpg
    """
    try:
        detector = MaskDetector(threads=threads, no_mask_threshold=no_mask_threshold)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    failed = False
    for path in images:
        result = look_file(path, detector)
        failed |= "error" in result
        click.echo(json.dumps(result, ensure_ascii=False))
    if failed:
        raise SystemExit(1)
