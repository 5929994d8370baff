"""Roster import time (issue 10, Enrolment; target < 10 s for 10,000 people): CSV (UTF-8 with BOM, GBK) and
XLSX files as Excel writes them, read, checked and stored through `server.roster_import.import_roster`, on
SQLite and PostgreSQL.

For each engine and file: a fresh hub database; the check alone (read + GB 11643 + masking + hashing,
`parse_roster`); the first import (everyone added: the whole path, reading included); a re-import of a
second file with 10% of the people changed, 5% removed and 5% new; then `checkpoint hub roster import`
as a person runs it (a new process: Python's start and the hub's imports included) on SQLite.
PostgreSQL is a cluster of its own on this machine (fsync off, as the tests run it).
Usage: .venv/bin/python bench/roster.py [--people 10000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openpyxl  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from server.roster_import import import_roster, parse_roster  # noqa: E402
from server.store import HubStore  # noqa: E402

HEADER = ["身份证号", "姓名", "人员类别", "分组", "手机号"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗欧阳"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
CLASSES = ["员工", "学生", "教师", "访客", "快递员"]


def people(n: int, rng: random.Random) -> list[list[str]]:
    """n distinct people with valid ID numbers (random birth dates in 1950-2010, check digit computed)."""
    rows, seen = [], set()
    while len(rows) < n:
        body = f"110105{rng.randint(1950, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        number = body + ric.calc_check_digit(body + "0")  # it reads the first 17 characters
        if number in seen:
            continue
        seen.add(number)
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        rows.append([number, name, rng.choice(CLASSES), f"{rng.randint(1, 12)}年级{rng.randint(1, 20)}班",
                     f"1{rng.randint(3, 9)}{rng.randint(0, 999_999_999):09d}" if rng.random() < 0.7 else ""])
    return rows


def reimport(rows: list[list[str]], rng: random.Random) -> list[list[str]]:
    """The same roster a term later: 10% moved group, 5% left, 5% new."""
    n = len(rows)
    kept = rng.sample(rows, n - n // 20)
    moved = [r[:3] + ["新" + r[3]] + r[4:] if rng.random() < 0.1 else r for r in kept]
    fresh = [r for r in people(n // 20 * 2, random.Random(rng.random())) if r[0] not in {k[0] for k in rows}][: n // 20]
    return moved + fresh


def csv_bytes(rows: list[list[str]], encoding: str) -> bytes:
    """A CSV as Excel saves it (CRLF; "CSV UTF-8" adds the BOM)."""
    text = "\r\n".join(",".join(r) for r in [HEADER, *rows]) + "\r\n"
    return text.encode("utf-8-sig" if encoding == "utf-8-sig" else encoding)


def xlsx_bytes(rows: list[list[str]]) -> bytes:
    """An XLSX workbook of the rows, with the <dimension> Excel writes (openpyxl's write-only mode leaves it out,
    and a read-only reader then parses the sheet twice, once to size it)."""
    book = openpyxl.Workbook()
    sheet = book.active
    for r in [HEADER, *rows]:
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def new_store(url: str) -> HubStore:
    """A fresh hub database with one venue."""
    store = HubStore(url)
    store.migrate()
    store.create_venue("acme", {"name": "Acme"})
    return store


def timed(fn):
    """("wall s (CPU s)", result) of one call: on a shared machine the CPU time says what the import costs."""
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return f"{time.perf_counter() - start:.2f} ({time.process_time() - cpu:.2f})", result


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    rng = random.Random(11643)
    first_rows = people(args.people, rng)
    second_rows = reimport(first_rows, rng)
    files = {
        "CSV UTF-8 BOM": (csv_bytes(first_rows, "utf-8-sig"), csv_bytes(second_rows, "utf-8-sig")),
        "CSV GBK": (csv_bytes(first_rows, "gbk"), csv_bytes(second_rows, "gbk")),
        "XLSX": (xlsx_bytes(first_rows), xlsx_bytes(second_rows)),
    }
    cluster = None
    if not args.skip_postgres:
        from bench.scale import new_database
        from demo.processes import start_postgres
        cluster = start_postgres()
    print(f"Roster import, {args.people:,} people; {os.cpu_count()} cores; load before: "
          f"{' '.join(Path('/proc/loadavg').read_text().split()[:3])}\n")
    print("Each time is wall seconds (this process's CPU seconds; PostgreSQL's server work is not in them).\n")
    print("| engine | file | size | check only s | first import s [added] | re-import s [added/changed/removed] |")
    print("|---|---|---|---|---|---|")
    try:
        with tempfile.TemporaryDirectory() as d:
            engines = [("SQLite", lambda name: str(Path(d) / f"{name}.db"))]
            if cluster is not None:
                engines.append(("PostgreSQL", lambda name: new_database(cluster, name)))
            for engine, make in engines:
                for i, (label, (first, second)) in enumerate(files.items()):
                    store = new_store(make(f"roster{i}"))
                    check_s, (_, _, errors) = timed(lambda: parse_roster(first, "f", store.id_hash))
                    assert not errors, errors[:3]
                    one_s, one = timed(lambda: import_roster(store, "acme", first, "f", by_user="bench"))
                    two_s, two = timed(lambda: import_roster(store, "acme", second, "f", by_user="bench"))
                    c = two.changes
                    print(f"| {engine} | {label} | {len(first) / 2**20:.2f} MB | {check_s} | "
                          f"{one_s} [{one.changes.added:,}] | {two_s} [{c.added:,}/{c.changed:,}/{c.removed:,}] |")
                    store.close()
            db, path = Path(d) / "cli.db", Path(d) / "roster.xlsx"
            new_store(str(db)).close()
            path.write_bytes(files["XLSX"][0])
            command = [str(Path(sys.executable).parent / "checkpoint"), "hub", "roster", "import", str(path),
                       "--venue", "acme", "--db", str(db)]
            start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
            print(f"\n`checkpoint hub roster import roster.xlsx --venue acme` ({args.people:,} people, SQLite, a new "
                  f"process): {time.perf_counter() - start:.2f} s wall, {user + system:.2f} s CPU — {done.stdout.strip()}")
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"\nload after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
