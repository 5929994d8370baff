"""A bundle preview at the gate: how long `replay_candidate` (agent/preview.py, the hub's `replay` command) takes to
replay a day of recorded decisions against a candidate bundle, read from the gate's own SQLite store, with and
without daily controls laid over it; and what laying controls over a bundle costs once (the pack compiled again)
and per decision after that (memoised). Prints a markdown table.

Run: .venv/bin/python bench/replay_preview.py [--n 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from agent.preview import replay_candidate
from agent.store import AgentStore, DecisionInputs
from protocols.bundle import DatedRiskArea, build_bundle, sign_bundle
from protocols.controls import Controls, apply_controls
from protocols.credential import Credential, NucleicAcidTest, Stay
from protocols.decision import GateContext, decision_inputs, evaluate
from protocols.events import GateEvent, new_event_id
from protocols.keys import generate_private_key
from protocols.rules import load_pack
from protocols.schedule import Schedule

PACK = "school-gate"


def fill(store: AgentStore, n: int, now: dt.datetime) -> None:
    """n recorded decisions spread over the last 20 hours: staff, visitors with a test, travellers, warm readings."""
    bundle = build_bundle(load_pack(PACK))
    for i in range(n):
        at = now - dt.timedelta(seconds=20 * 3600 * (n - i) / n)
        kind = i % 4
        credential = Credential(
            format="HP1", issuer="venue-health", kid="k1", subject=f"S-{i}", name="张*明", colour="green",
            person_class="visitor" if kind == 1 else "staff", issued_at=at - dt.timedelta(minutes=1),
            expires_at=at + dt.timedelta(hours=1),
            test=NucleicAcidTest(at=at - dt.timedelta(hours=30), result="negative") if kind == 1 else None,
            stays=[Stay(region="310115", start=(at - dt.timedelta(days=6)).date(), end=(at - dt.timedelta(days=3)).date())]
            if kind == 2 else [])
        ctx = GateContext(at=at, celsius=37.2 if kind == 3 else 36.6, mask=True, inside=False)
        result = evaluate(bundle, credential, ctx)
        inputs = decision_inputs(bundle, credential, ctx, hash_subject=store.hash_subject)
        event = GateEvent(id=new_event_id(at), kind="decision", venue="school1", gate="north", at=at,
                          decision=result.decision, reasons=result.reasons, subject=store.hash_subject(f"S-{i}"),
                          name="张*明", bundle_version=bundle.version)
        store.record(event, DecisionInputs(result.decision, at, inputs))  # as the gate's loop records it


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="recorded decisions in the last day")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the best is shown)")
    args = parser.parse_args()
    now = dt.datetime.now(dt.timezone.utc)
    root = generate_private_key("ES256")
    candidate = build_bundle(load_pack(PACK), {"feverDeci": 372, "testMaxHours": 24})
    doc = sign_bundle(candidate, root)
    areas = [DatedRiskArea(region="310115", level="high", start=now - dt.timedelta(days=1), until=None)] + [
        DatedRiskArea(region=f"11{i:04d}", level="mid", start=now - dt.timedelta(days=2), until=now + dt.timedelta(days=5))
        for i in range(100, 150)]
    controls = Controls(mode="open", params={"feverDeci": 375}, risk_areas=areas)
    with tempfile.TemporaryDirectory() as folder:
        store = AgentStore(Path(folder) / "agent.sqlite", b"k" * 32)
        fill(store, args.n, now)
        store.close()
        path = Path(folder) / "agent.sqlite"
        plain, result = timed(lambda: replay_candidate(doc, root.public_key(), path, None, now), args.repeat)
        laid, laid_result = timed(lambda: replay_candidate(doc, root.public_key(), path, controls, now), args.repeat)
    compile_s, _ = timed(lambda: apply_controls(candidate, controls).ruleset, args.repeat)
    cred = Credential(format="HP1", issuer="i", kid="k", subject="S", name="张*明", colour="green", person_class="staff",
                      issued_at=now - dt.timedelta(minutes=1), expires_at=now + dt.timedelta(hours=1))
    ctx = GateContext(at=now, celsius=36.6, mask=True, inside=False, schedule=Schedule(issued_at=now, controls=controls))
    evaluate(candidate, cred, ctx)
    n_eval = 2000
    per, _ = timed(lambda: [evaluate(candidate, cred, ctx) for _ in range(n_eval)], 1)
    bare = GateContext(at=now, celsius=36.6, mask=True, inside=False)
    per_bare, _ = timed(lambda: [evaluate(candidate, cred, bare) for _ in range(n_eval)], 1)
    print(f"pack {PACK}, {args.n} recorded decisions in the last day, best of {args.repeat}; "
          f"cpus {os.cpu_count()}, load {open('/proc/loadavg').read().split()[0]}\n")
    print("| what | time | figures |")
    print("|---|---|---|")
    print(f"| replay_candidate, no controls | {plain:.2f} s ({1e6 * plain / args.n:.0f} µs a decision) | "
          f"replayed {result.replayed}, changed {result.changed}, skipped {result.skipped} |")
    print(f"| replay_candidate, controls (37.5 ℃, {len(areas)} dated areas) | {laid:.2f} s | "
          f"replayed {laid_result.replayed}, changed {laid_result.changed} |")
    print(f"| apply_controls (the pack compiled again) | {1e3 * compile_s:.1f} ms | once per new bundle or schedule |")
    print(f"| evaluate with controls (memoised) | {1e6 * per / n_eval:.0f} µs | without: {1e6 * per_bare / n_eval:.0f} µs |")


if __name__ == "__main__":
    main()
