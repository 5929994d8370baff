"""Decision engine throughput: decisions per second on one core for the largest policy pack.

The credential is already decoded and verified (as at the gate after `verify_code`); each
decision runs `protocols.decision.evaluate` in full: building the rule data from the credential
and the context, then every rule in force. Prints a markdown table.

Run: .venv/bin/python bench/decide.py [--n 20000]
"""

from __future__ import annotations

import argparse
import os
import datetime as dt
import platform
import time
from dataclasses import dataclass

from protocols.bundle import Bundle, build_bundle, parse_risk_areas
from protocols.credential import Credential, NucleicAcidTest, Stay
from protocols.decision import GateContext, evaluate
from protocols.rules import load_pack, pack_names

AT = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.timezone.utc)
RISK = {"regions": [{"region": f"11{i:04d}", "level": "high"} for i in range(100, 160)], "provinces": ["440000", "320000"]}


def largest_pack() -> str:
    """The shipped pack with the most rules (ties: the most JSON)."""
    return max(pack_names(), key=lambda n: (len(load_pack(n).rules), len(load_pack(n).model_dump_json())))


def presentations() -> list[tuple[Credential, GateContext]]:
    """A mix of people at a factory gate: staff, a visitor, a courier who travelled, a fever."""
    base = dict(format="HP1", issuer="venue-health", kid="k1", issued_at=AT - dt.timedelta(minutes=1),
                expires_at=AT + dt.timedelta(hours=1), name="张*明", colour="green")
    test = NucleicAcidTest(at=AT - dt.timedelta(hours=20), result="negative")
    appointment = {"subject": "V1", "from": "2026-11-29T07:00:00Z", "to": "2026-11-29T10:00:00Z", "approvedBy": "王*华"}
    stays = [Stay(region="440106", start=dt.date(2026, 11, 20), end=dt.date(2026, 11, 24)),
             Stay(region="110108", start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 3))]
    ok = GateContext(at=AT, celsius=36.6, mask=True, inside=False, roster={"S1": {}, "C1": {}})
    return [
        (Credential(**base, subject="S1", person_class="staff"), ok),
        (Credential(**base, subject="V1", person_class="visitor", test=test), GateContext(at=AT, celsius=36.4, mask=True, inside=False, appointment=appointment)),
        (Credential(**base, subject="C1", person_class="courier", test=test, stays=stays), ok),
        (Credential(**base, subject="S1", person_class="staff"), GateContext(at=AT, celsius=37.6, remeasure=37.5, mask=True, inside=False)),
        (Credential(**{**base, "colour": "yellow"}, subject="S2", person_class="staff"), ok),
    ]


def unique_presentations(count: int) -> list[tuple[Credential, GateContext]]:
    """Every presentation with its own times and clock, so no parsed date is reused from a cache."""
    out = []
    for i, (credential, ctx) in enumerate(presentations() * (count // 5 + 1)):
        if i >= count:
            break
        shift = dt.timedelta(seconds=i)
        fields = {"issued_at": credential.issued_at + shift, "expires_at": credential.expires_at + shift}
        if credential.test is not None:
            fields["test"] = NucleicAcidTest(at=credential.test.at + shift, result="negative")
        out.append((credential.model_copy(update=fields), GateContext(**{**ctx.__dict__, "at": ctx.at + shift})))
    return out


@dataclass
class Timing:
    """Wall and CPU time of a run, and each decision's wall and CPU nanoseconds (sorted)."""

    wall: float
    cpu: float
    wall_ns: list[int]
    cpu_ns: list[int]


def timed(bundle: Bundle, cases: list[tuple[Credential, GateContext]]) -> Timing:
    """Time every decision; CPU time (this thread only) tells the engine from other load on the machine."""
    wall_ns, cpu_ns = [], []
    wall, cpu = time.perf_counter(), time.process_time()
    for credential, ctx in cases:
        w, c = time.perf_counter_ns(), time.thread_time_ns()
        evaluate(bundle, credential, ctx)
        cpu_ns.append(time.thread_time_ns() - c)
        wall_ns.append(time.perf_counter_ns() - w)
    return Timing(time.perf_counter() - wall, time.process_time() - cpu, sorted(wall_ns), sorted(cpu_ns))


def row(name: str, label: str, t: Timing) -> str:
    """One markdown table row."""
    n = len(t.wall_ns)
    p = lambda xs, q: xs[min(n - 1, int(q * n))] / 1000  # noqa: E731
    return (f"| {name} | {label} | {n} | {n / t.wall:,.0f} | {n / t.cpu:,.0f} | {p(t.cpu_ns, 0.5):.1f} | "
            f"{p(t.cpu_ns, 0.99):.1f} | {p(t.wall_ns, 0.5):.1f} | {p(t.wall_ns, 0.99):.1f} |")


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000, help="decisions to time")
    n = parser.parse_args().n
    name = largest_pack()
    t0 = time.perf_counter()
    bundle = build_bundle(load_pack(name), {}, parse_risk_areas(RISK))
    compile_ms = (time.perf_counter() - t0) * 1000
    cases = presentations()
    decisions = {evaluate(bundle, c, x).decision for c, x in cases}
    for c, x in cases * 200:  # warm the date caches as a running gate would be
        evaluate(bundle, c, x)
    warm = timed(bundle, [cases[i % len(cases)] for i in range(n)])
    cold = timed(bundle, unique_presentations(n))
    rules = len(bundle.pack.rules)
    load = os.getloadavg()[0]
    print(f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} "
          f"while running; one process. Pack {name}: {rules} rules, compiled in {compile_ms:.1f} ms; "
          f"decisions seen {sorted(decisions)}.\n")
    print("| pack | presentations | decisions | per s (wall) | per s (CPU) | p50 µs CPU | p99 µs CPU | p50 µs wall | p99 µs wall |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(row(name, "5 in rotation (warm date caches)", warm))
    print(row(name, "each new (own times, own clock)", cold))


if __name__ == "__main__":
    main()
