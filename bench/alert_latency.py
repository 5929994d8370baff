"""Alert latency: from a gate's red-code decision to the supervisor's console (issue 12), with a fleet syncing.

A `hub serve` (gunicorn, 2 workers, SQLite) holds one venue with `--gates` gates syncing steadily in the
background (bench/fleet.py's client processes, each gate every `--period` s with `--events` events), and
one more gate that refuses a red code every `--every` seconds and sends it at once, as a gate's urgent
sync does (agent/sync.py `urgent`). A supervisor signed in to the console follows the live stream
(/console/alerts/stream, server-sent events, the badge of every page); the latency of one alert is from
the red event's decision time to the stream's frame naming it. The stream is re-opened whenever it ends
(its life is bounded), as the browser's EventSource does.

Usage: .venv/bin/python bench/alert_latency.py [--gates 200] [--alerts 30] [--every 1.0] [--period 5] [--procs 2]
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from ulid import ULID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from bench import fleet  # noqa: E402
from demo.processes import free_port, wait_for_port  # noqa: E402
from protocols.contract import DEVICE_SYNC, path  # noqa: E402
from server.store import HubStore  # noqa: E402

PASSWORD = "bench-pass-word-1"


def follow(url: str, session: requests.Session, reached: dict[int, float], stop: threading.Event) -> None:
    """Read the console's alert stream, noting when the open count first reaches each value; reconnect when it ends.

    The stream names only the newest alert, and several raised within one of its polls show as one
    frame, so alerts are counted, not named: the k-th red code is seen when the count first reaches k."""
    while not stop.is_set():
        try:
            with session.get(url + "/console/alerts/stream", stream=True, timeout=60) as answer:
                for raw in answer.iter_lines(decode_unicode=True):
                    if stop.is_set():
                        return
                    if raw and raw.startswith("data:"):
                        count = int(json.loads(raw[5:]).get("open") or 0)
                        now = time.time()
                        for k in range(1, count + 1):
                            reached.setdefault(k, now)
        except requests.RequestException:
            time.sleep(0.2)


def sign_in(url: str, user: str = "duty", password: str = PASSWORD) -> requests.Session:
    """A console session of `user` (a supervisor), signed in through the login form as a browser is."""
    session = requests.Session()
    page = session.get(url + "/console/login", timeout=30).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answer = session.post(url + "/console/login", data={"username": user, "password": password, "csrf_token": token},
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.status_code
    return session


def main() -> None:
    """Start the hub and the fleet, send red codes, print the latency table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gates", type=int, default=200, help="gates syncing in the background")
    parser.add_argument("--alerts", type=int, default=30, help="red codes sent")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between red codes")
    parser.add_argument("--period", type=float, default=5.0, help="seconds between a background gate's syncs")
    parser.add_argument("--events", type=int, default=5, help="events per background sync")
    parser.add_argument("--procs", type=int, default=2, help="client processes for the background fleet")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "hub.db"
        devices = fleet.setup(db, args.gates, 1)  # one venue: fleet00
        store = HubStore(db)
        store.create_gate("fleet00", "red-gate")
        _, red_secret = store.redeem_token(store.create_enroll_token("fleet00", "red-gate"))  # type: ignore[misc]
        store.create_user("duty", PASSWORD, "supervisor")
        store.set_user_venue("duty", "fleet00")
        store.close()
        port = free_port()
        hub = subprocess.Popen([sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "serve",
                                "--db", str(db), "--port", str(port), "--workers", "2"],
                               start_new_session=True, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        stop = threading.Event()
        reached: dict[int, float] = {}
        sent: list[float] = []
        background: list[float] = []
        try:
            wait_for_port(port, 60)
            console = sign_in(url)
            watcher = threading.Thread(target=follow, args=(url, console, reached, stop), daemon=True)
            watcher.start()
            seconds = args.alerts * args.every + 10
            runner = threading.Thread(target=lambda: background.extend(
                fleet.run(url, devices, args.procs, seconds, args.period, False, args.events)), daemon=True)
            runner.start()
            time.sleep(3.0)  # the fleet under way and the stream open
            gate = requests.Session()
            headers = {"Authorization": f"Bearer {red_secret}", "Content-Type": "application/json"}
            for _ in range(args.alerts):
                at = dt.datetime.now(dt.timezone.utc)
                event_id = str(ULID.from_datetime(at))
                body = {"events": [{"id": event_id, "kind": "decision", "venue": "fleet00", "gate": "red-gate",
                                    "at": at.isoformat(), "decision": "deny", "colour": "red", "celsius": 36.6,
                                    "direction": "in", "subject": os.urandom(16).hex(), "name": "张*明",
                                    "reasons": [{"rule": "GATE-COLOUR-01", "outcome": "FAIL",
                                                 "message_zh": "红码：禁止进入", "message_en": "Red code: entry refused"}]}]}
                sent.append(at.timestamp())
                answer = gate.post(url + path(DEVICE_SYNC), data=json.dumps(body), headers=headers, timeout=30)
                answer.raise_for_status()
                time.sleep(args.every)
            deadline = time.time() + 30
            while time.time() < deadline and len(reached) < len(sent):
                time.sleep(0.2)
            runner.join(timeout=seconds + 60)
        finally:
            stop.set()
            os.killpg(hub.pid, signal.SIGINT)
            hub.wait(timeout=15)
    lat = [reached[k + 1] - at for k, at in enumerate(sent) if k + 1 in reached]
    missing = len(sent) - len(lat)
    q = statistics.quantiles(lat, n=20) if len(lat) >= 2 else [float("nan")] * 19
    ok = sorted(x for x in background if x != float("inf"))
    bq = statistics.quantiles(ok, n=100) if len(ok) >= 2 else [float("nan")] * 99
    print(f"gunicorn 2 workers x 8 threads, SQLite WAL; {args.gates} background gates in one venue syncing every "
          f"{args.period:g} s ({args.events} events each), {args.procs} client processes; one supervisor following "
          f"the console's alert stream; {len(sent)} red codes, one every {args.every:g} s; load "
          f"{open('/proc/loadavg').read().split()[0]} at the end\n")
    print("| alerts | seen | p50 s | p95 s | max s | background syncs | failed | sync p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {len(sent)} | {len(lat)} (missing {missing}) | {statistics.median(lat):.2f} | {q[18]:.2f} | "
          f"{max(lat):.2f} | {len(background):,} | {len(background) - len(ok)} | {bq[98] * 1000:.0f} |")


if __name__ == "__main__":
    main()
