"""The hub's cost of one device sync, in process (no HTTP server, no client): milliseconds per sync.

Each sync carries 10 events with keyed-hash subjects (half entries, half exits) at gates used both ways,
and asks for the venue's presence changes since that gate's own cursor, as a gate does; the gates sync
in turn, so every answer carries the changes the venue's other gates made since (about 10 x (gates - 1)):
the part of a sync that grows with the venue. Run: .venv/bin/python bench/hub_sync.py [--gates 20 --syncs 300]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import setup  # noqa: E402
from protocols.clock import utc_now, utc_text  # noqa: E402
from protocols.contract import DEVICE_SYNC, path  # noqa: E402
from protocols.events import new_event_id  # noqa: E402
from server.app import create_app  # noqa: E402


def body(venue: str, gate: str, cursor: int) -> str:
    """One sync request as a gate sends it."""
    now = utc_text(utc_now())
    events = [{"id": new_event_id(), "kind": "decision", "venue": venue, "gate": gate, "at": now, "decision": "admit",
               "colour": "green", "celsius": 36.5, "subject": os.urandom(16).hex(), "direction": "in" if n % 2 else "out"}
              for n in range(10)]
    return json.dumps({"events": events, "running": {"bundle": "1"}, "presence_after": cursor, "presence_window_s": 60})


def main() -> None:
    """Print the table of ms per sync."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", type=int, default=20, help="gates of the one venue")
    parser.add_argument("--syncs", type=int, default=300)
    parser.add_argument("--warm", type=int, default=40, help="syncs before timing (they fill the presence table)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "hub.db"
        devices = setup(db, args.gates, 1)
        client = create_app({"DATABASE": str(db)}).test_client()
        logging.disable(logging.WARNING)  # the exits of nobody inside are logged, one line a sync
        times, cpu, rows = [], [], 0
        cursors: dict[str, int] = {}
        for i in range(args.warm + args.syncs):
            venue, gate, secret = devices[i % len(devices)]
            data = body(venue, gate, cursors.get(gate, 0))  # the gate's work, not the hub's: before timing
            t0, c0 = time.perf_counter(), time.thread_time()
            answer = client.post(path(DEVICE_SYNC), data=data,
                                 headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
            if i >= args.warm:
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"sync refused: {answer.status_code} {answer.data[:200]!r}")
            reply = answer.get_json()
            rows, cursors[gate] = len(reply["presence"]), reply["presence_after"]
    print(f"hub sync in process: {args.gates} gates in one venue, 10 events per sync, {rows} presence changes in the last answer")
    # CPU (this thread's time) is the figure to compare on a shared machine: wall time includes other jobs.
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("\n| syncs | CPU mean ms | CPU median ms | wall mean ms | wall median ms | wall p95 ms |\n|---|---|---|---|---|---|")
    q = statistics.quantiles(times, n=20)
    print(f"| {len(times)} | {statistics.fmean(cpu):.2f} | {statistics.median(cpu):.2f} | {statistics.fmean(times):.2f} "
          f"| {statistics.median(times):.2f} | {q[18]:.2f} |")


if __name__ == "__main__":
    main()
