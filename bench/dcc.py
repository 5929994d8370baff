"""Benchmark EU DCC (`HC1:`) verification on the dgc-testdata corpus' real codes.

Prints a markdown table: median microseconds per call for each stage and for the whole
`verify_dcc`, by signature algorithm, plus loading a DSC into a trusted key.

    .venv/bin/python bench/dcc.py --rounds 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from protocols.cose import ES256, PS256  # noqa: E402
from protocols.dcc import (  # noqa: E402
    check_signature,
    decode_base45,
    decode_cose,
    decode_cwt,
    inflate,
    parse_claims,
    strip_prefix,
    verify_dcc,
)
from protocols.dcc_dsc import trusted_key_from_dsc  # noqa: E402
from protocols.trustlist import TrustList  # noqa: E402

ALG_NAMES = {ES256: "ES256", PS256: "PS256"}


def corpus() -> Path:
    """The dgc-testdata folder vendored with the tests."""
    here = Path(__file__).resolve().parents[1] / "tests" / "corpora" / "dgc-testdata"
    if not (here / "README.md").is_file():
        sys.exit(f"dgc-testdata corpus not found at {here}")
    return here


def clock(text: str) -> dt.datetime:
    """A VALIDATIONCLOCK value (0-9 fractional digits, any zone form or none = UTC)."""
    t = dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.strip()))
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def valid_codes(root: Path) -> dict[str, list[tuple[str, TrustList, dt.datetime]]]:
    """Every corpus code that verifies, grouped by signature algorithm."""
    codes: dict[str, list[tuple[str, TrustList, dt.datetime]]] = {}
    for path in sorted(root.rglob("*.json")):
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        ctx = data.get("TESTCTX") or {} if isinstance(data, dict) else {}
        if not isinstance(data, dict) or "PREFIX" not in data or not ctx.get("CERTIFICATE") or not ctx.get("VALIDATIONCLOCK"):
            continue
        trust, at = TrustList.single(trusted_key_from_dsc(ctx["CERTIFICATE"])), clock(ctx["VALIDATIONCLOCK"])
        if verify_dcc(data["PREFIX"], trust, at).ok:
            alg = ALG_NAMES[decode_cose(inflate(decode_base45(strip_prefix(data["PREFIX"])))).alg]
            codes.setdefault(alg, []).append((data["PREFIX"], trust, at))
    return codes


def median_us(fn: Callable[[], object], rounds: int) -> float:
    """Median wall time of fn in microseconds over `rounds` calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="calls per code and stage")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # FI's DSC warning per load would flood the output
    root = corpus()
    codes = valid_codes(root)
    rows: list[tuple[str, float, int]] = []
    for alg, items in sorted(codes.items()):
        per_stage: dict[str, list[float]] = {}
        for text, trust, at in items:
            body = strip_prefix(text)
            compressed = decode_base45(body)
            cose = inflate(compressed)
            msg = decode_cose(cose)
            cwt = decode_cwt(msg.payload)
            stages = {
                "base45": lambda: decode_base45(body),
                "zlib": lambda: inflate(compressed),
                "COSE": lambda: decode_cose(cose),
                "CBOR": lambda: decode_cwt(msg.payload),
                "claims + schema (pydantic)": lambda: parse_claims(cwt),
                "signature": lambda: check_signature(msg, trust),
                "verify_dcc, whole": lambda: verify_dcc(text, trust, at),
            }
            for name, fn in stages.items():
                per_stage.setdefault(name, []).append(median_us(fn, args.rounds))
        for name, values in per_stage.items():
            rows.append((f"{alg}: {name}", statistics.median(values), len(items)))
    certificates = sorted({json.loads(p.read_text(encoding="utf-8")).get("TESTCTX", {}).get("CERTIFICATE", "") for p in root.rglob("*.json") if p.name != "6.json"} - {""})
    dsc_us = statistics.median(median_us(lambda c=c: trusted_key_from_dsc(c), max(1, args.rounds // 10)) for c in certificates[:40])
    rows.append(("trusted_key_from_dsc (base64 DER)", dsc_us, min(40, len(certificates))))
    print(f"Median over {args.rounds} calls per code, then the median over the codes.\n")
    print("| operation | median µs | per second | codes |")
    print("|---|---|---|---|")
    for name, us, n in rows:
        print(f"| {name} | {us:,.0f} | {1e6 / us:,.0f} | {n} |")


if __name__ == "__main__":
    main()
