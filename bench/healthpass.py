"""Benchmark HP1 health passes: mint and verify per algorithm, refusal of garbage, code size.

Prints a markdown table of median microseconds per operation (and per second), the text length
of a typical and of a large pass, and the QR version they need.

    .venv/bin/python bench/healthpass.py --rounds 300
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import segno  # noqa: E402

from demo.samples import NOW, make_claims  # noqa: E402
from protocols.healthpass import mint, verify_healthpass  # noqa: E402
from protocols.keys import generate_private_key  # noqa: E402
from protocols.trustlist import TrustedKey, TrustList  # noqa: E402
from protocols.verify import verify_code  # noqa: E402


def median_us(fn: Callable[[], object], rounds: int) -> float:
    """Median wall time of fn in microseconds over rounds calls (after a warm-up call)."""
    fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    stays = tuple({"region": f"1101{i:02d}", "start": dt.date(2026, 11, 1 + i), "end": dt.date(2026, 11, 2 + i)} for i in range(14))
    typical = make_claims()
    large = make_claims(stays=stays)
    rows = []
    for alg in ("ES256", "EdDSA"):
        key = generate_private_key(alg)  # type: ignore[arg-type]
        trust = TrustList([TrustedKey.from_public_key(key.public_key(), "CN-VENUE")])
        text = mint(typical, key)
        big = mint(large, key)
        tampered = text[:-6] + "ABCDEF"
        rows.append((f"mint {alg}", median_us(lambda: mint(typical, key), args.rounds)))
        rows.append((f"verify {alg} (valid)", median_us(lambda: verify_healthpass(text, trust, NOW), args.rounds)))
        rows.append((f"verify {alg}, 14 stays (valid)", median_us(lambda: verify_healthpass(big, trust, NOW), args.rounds)))
        rows.append((f"verify {alg} (tampered tail)", median_us(lambda: verify_code(tampered, trust, NOW), args.rounds)))
    rows.append(("verify_code garbage text", median_us(lambda: verify_code("not a code at all", trust, NOW), args.rounds)))
    print("| operation | median µs | per second |")
    print("|---|---|---|")
    for name, us in rows:
        print(f"| {name} | {us:.0f} | {1e6 / us:,.0f} |")
    print()
    print("| pass | text chars (ES256) | QR version (error level M) |")
    print("|---|---|---|")
    for name, claims in (("typical (test, no stays)", typical), ("14 stays", large)):
        text = mint(claims, generate_private_key("ES256"))
        print(f"| {name} | {len(text)} | {segno.make_qr(text, error='m', boost_error=False).version} |")


if __name__ == "__main__":
    main()
