"""`checkpoint hub serve` start-up on a big database (issue 13: listening within 3 s with 5M events stored).

Starts `checkpoint hub serve --database DB` as an operator would (gunicorn, `--workers` sync workers) and
times, from the moment the process is started, the first answered `GET /healthz` (no database read) and
the first answered `GET /console/login` (a page that reads the database), polling every 10 ms, and the
CPU seconds the hub's processes had used by then (the figure a loaded machine does not change); then stops
it (SIGINT) and starts again, `--runs` times. The database is one filled before, e.g. by
`bench/storage_queries.py --database PATH_OR_URL` (it keeps what it filled).

Usage: .venv/bin/python bench/serve_start.py --database PATH_OR_URL [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.processes import free_port  # noqa: E402
from server.schema import events  # noqa: E402
from server.store import HubStore  # noqa: E402

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its descendants have used so far (Linux /proc)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # After the name: state, ppid, ... utime (14th field of stat), stime, cutime, cstime.
            stats[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    tree, frontier = {pid}, {pid}
    while frontier:
        frontier = {p for p, (ppid, _) in stats.items() if ppid in frontier} - tree
        tree |= frontier
    return sum(stats[p][1] for p in tree if p in stats) / os.sysconf("SC_CLK_TCK")


def first_answer(url: str, t0: float, proc: subprocess.Popen, limit_s: float = 120) -> float:
    """Seconds from t0 to the first 200 answer at url (the process must stay up meanwhile)."""
    while time.perf_counter() - t0 < limit_s:
        if proc.poll() is not None:
            raise RuntimeError(f"hub serve exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return time.perf_counter() - t0
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.01)
    raise RuntimeError(f"no answer at {url} within {limit_s:.0f} s")


def one_start(database: str, workers: int) -> tuple[float, float, float]:
    """Start the hub: (seconds to /healthz, to /console/login, CPU seconds its processes used by then); stop it."""
    port = free_port()
    env = {**os.environ, "CHECKPOINT_DATABASE_URL": database, "CHECKPOINT_LOG": "WARNING"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([*CLI, "hub", "serve", "--port", str(port), "--workers", str(workers)], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        health = first_answer(f"http://127.0.0.1:{port}/healthz", t0, proc)
        login = first_answer(f"http://127.0.0.1:{port}/console/login", t0, proc)
        cpu = tree_cpu_s(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return health, login, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a SQLite path or a database URL, filled before")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    store = HubStore(args.database)
    from sqlalchemy import func, select

    n = store.conn.execute(select(func.count()).select_from(events)).scalar()
    engine = store.conn.dialect.name
    store.close()
    starts = [one_start(args.database, args.workers) for _ in range(args.runs)]
    print(f"{engine}, {n:,} events, {args.workers} workers, {args.runs} starts; load {open('/proc/loadavg').read().split()[0]}\n")
    print("| first answer | median s | max s |")
    print("|---|---|---|")
    for i, name in enumerate(("GET /healthz", "GET /console/login (reads the database)",
                              "CPU seconds the hub's processes used until then")):
        values = [s[i] for s in starts]
        print(f"| {name} | {statistics.median(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
