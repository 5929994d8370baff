"""Status feeds: how long the hub takes to import 10,000 rows per source (the authority's colours, a lab's
results) from each format it reads: CSV in UTF-8, UTF-8 with BOM and GBK, XLSX, and a JSON list.

A fresh hub database (SQLite in a temporary folder, or --database URL) with --rows enrolled people; each
run reads the file into a table (`server.status_feeds.read_feed` / `json_feed`: decoding, header, cells),
then checks and stores it (`import_feed`: the GB 11643 check and duplicate search of every row, the keyed
hash of each ID, one write transaction of --rows status rows and the audit row). Times are the best of
--repeat runs, in one process on one core; the figures are whole-import times, not per-row estimates.
Usage: .venv/bin/python bench/status_feed.py [--rows 10000] [--repeat 3] [--database URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openpyxl  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from server.status_feeds import import_feed, json_feed, read_feed  # noqa: E402
from server.store import HubStore  # noqa: E402
from server.store_people import PersonRecord  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
VENUE = "bench"


def id_numbers(n: int) -> list[str]:
    """n distinct valid (fictional) resident ID numbers."""
    out = []
    for i in range(n):
        day = dt.date(1960, 1, 1) + dt.timedelta(days=i % 15000)
        body = f"110105{day:%Y%m%d}{i // 15000 % 1000:03d}"
        out.append(body + ric.calc_check_digit(body + "0"))
    return out


def rows(source: str, ids: list[str]) -> tuple[list[str], list[list[str]]]:
    """The feed's header and rows as the authority or a lab would send them."""
    if source == "authority":
        colours = ("green",) * 18 + ("yellow", "red")
        return ["身份证号", "健康码", "赋码时间"], [[n, colours[i % 20], "2026-11-20 08:00"] for i, n in enumerate(ids)]
    return ["身份证号", "采样时间", "检测结果"], [[n, "2026-12-02 07:45", "阴性"] for n in ids]


def encoded(fmt: str, source: str, ids: list[str]) -> tuple[bytes, str]:
    """The feed as bytes in one format, and its file name."""
    header, body = rows(source, ids)
    if fmt == "json":
        keys = ["id", "colour", "since"] if source == "authority" else ["id", "sampled_at", "result"]
        return json.dumps([dict(zip(keys, r)) for r in body], ensure_ascii=False).encode("utf-8"), "feed.json"
    if fmt == "xlsx":
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(header)
        for r in body:
            sheet.append(r)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue(), "feed.xlsx"
    text = "\r\n".join(",".join(r) for r in [header, *body]) + "\r\n"
    codec = {"csv-utf8": "utf-8", "csv-bom": "utf-8-sig", "csv-gbk": "gbk"}[fmt]
    return text.encode(codec), "feed.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", help="an empty hub database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = HubStore(args.database or str(Path(tmp) / "hub.db"))
        store.migrate()
        store.create_venue(VENUE, {"name": "bench"})
        ids = id_numbers(args.rows)
        store.apply_roster(VENUE, [PersonRecord(store.id_hash(n), "张*明", "staff") for n in ids], by_user="bench")
        print(f"{args.rows} enrolled people; best of {args.repeat}; database {'SQLite' if not args.database else 'URL'}")
        print(f"{'source':<10} {'format':<9} {'size MB':>8} {'read ms':>8} {'check+store ms':>15} {'total ms':>9} {'rows/s':>8}")
        for source in ("authority", "lab"):
            for fmt in ("csv-utf8", "csv-bom", "csv-gbk", "xlsx", "json"):
                data, name = encoded(fmt, source, ids)
                best_read = best_store = float("inf")
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    table = json_feed(source, data) if fmt == "json" else read_feed(source, data, name)
                    t1 = time.perf_counter()
                    result = import_feed(store, VENUE, source, table, by_user="bench", zone=ZONE)
                    t2 = time.perf_counter()
                    assert result.stored == args.rows and not result.unknown_rows
                    best_read, best_store = min(best_read, t1 - t0), min(best_store, t2 - t1)
                total = best_read + best_store
                print(f"{source:<10} {fmt:<9} {len(data) / 1e6:>8.2f} {best_read * 1e3:>8.0f} {best_store * 1e3:>15.0f} "
                      f"{total * 1e3:>9.0f} {args.rows / total:>8.0f}")
        store.close()


if __name__ == "__main__":
    main()
