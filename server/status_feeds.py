"""Status feeds (issue 10): the health authority's colours and a lab's nucleic-acid results, from a file
(CSV in UTF-8, UTF-8 with BOM or GBK, or XLSX: `server.tabular_files`) or a JSON list (the API's body),
checked row by row into the store's `StatusRecord`s; and a supervisor's manual entry with a reason.

All or nothing: any malformed row (a wrong column, a bad check digit, a duplicate ID, an unknown colour,
a time in the future, undecodable bytes) refuses the whole feed with one `TableError` per row, and nothing
is stored. Rows whose ID number is valid but not enrolled at the venue are stored nowhere and reported
(`StatusResult.unknown_rows`). The ID number is hashed at once (`HubStore.id_hash`) and never kept.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from protocols.clock import utc_now, utc_text
from server.bodies import ManualStatus
from server.id_numbers import IdNumberError, check_id_number
from server.store_people import StatusRecord, StatusResult
from server.tabular_files import (MAX_BYTES, MAX_ERRORS, MAX_ROWS, Column, Table, TableError, TableFileError, TableRow,
                                  duplicate_errors, read_table)

FEEDS = ("authority", "lab")
ID_COLUMN = Column("id", ("身份证号", "id", "id_number", "证件号码", "公民身份号码"))
COLUMNS: dict[str, tuple[Column, ...]] = {
    "authority": (ID_COLUMN, Column("colour", ("健康码", "colour", "color", "健康码颜色", "颜色")),
                  Column("since", ("赋码时间", "since", "起始时间"))),
    "lab": (ID_COLUMN, Column("sampled_at", ("采样时间", "sampled_at", "sampled")),
            Column("result", ("检测结果", "result", "结果"))),
}
COLOURS = {"green": "green", "绿": "green", "绿码": "green", "yellow": "yellow", "黄": "yellow", "黄码": "yellow",
           "red": "red", "红": "red", "红码": "red"}
RESULTS = {"negative": "negative", "阴性": "negative", "neg": "negative",
           "positive": "positive", "阳性": "positive", "pos": "positive"}
# A feed's clock may run a little ahead of the hub's; a time further ahead is a wrong row, not a future status.
FUTURE_SLACK = dt.timedelta(minutes=5)
EARLIEST = dt.datetime(2019, 12, 1, tzinfo=dt.timezone.utc)
_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")


@dataclass(frozen=True)
class FeedRow:
    """One checked row: the normalised ID number (hashed by the caller, never stored) and its status."""

    id_number: str
    record: StatusRecord


def read_feed(source: str, data: bytes, filename: str) -> Table:
    """A feed file's table (CSV or XLSX, told by its bytes) with the source's columns; TableFileError otherwise."""
    return read_table(data, filename, COLUMNS[_source(source)])


def json_feed(source: str, body: bytes | str | Sequence[Any] | Mapping[str, Any]) -> Table:
    """A JSON feed (a list of objects, or {"records": [...]}) as a table whose rows are the items (1, 2, ...).

    Keys are the columns' names as a file may head them (`id`, `colour`, `since`; `id`, `sampled_at`, `result`).
    """
    columns = COLUMNS[_source(source)]
    if isinstance(body, (bytes, str)):
        if len(body) > MAX_BYTES:
            raise TableFileError([TableError(None, None, "请求过大", f"the body is larger than {MAX_BYTES} bytes")])
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise TableFileError([TableError(None, None, "不是有效的 JSON", f"not valid JSON ({exc})")]) from None
    items = body.get("records") if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise TableFileError([TableError(None, None, "须为记录列表或 {\"records\": [...]}",
                                         'must be a list of records or {"records": [...]}')])
    if len(items) > MAX_ROWS:
        raise TableFileError([TableError(None, None, f"记录数超过上限 {MAX_ROWS}", f"more than {MAX_ROWS} records")])
    by_name = {name.casefold(): col.field for col in columns for name in col.names}
    errors: list[TableError] = []
    rows = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            errors.append(TableError(number, None, "记录须为对象", "a record must be an object"))
            continue
        values: dict[str, str] = {}
        for key, value in item.items():
            field = by_name.get(str(key).casefold())
            if field is None:
                errors.append(TableError(number, str(key)[:40], "无法识别的字段", "unknown key"))
            elif isinstance(value, bool) or (value is not None and not isinstance(value, (str, int, float))):
                errors.append(TableError(number, str(key)[:40], "须为文本", "must be text"))
            else:
                values[field] = "" if value is None else str(value).strip()
        rows.append(TableRow(number, {c.field: values.get(c.field, "") for c in columns}))
    if errors:
        raise TableFileError(errors[:MAX_ERRORS])
    return Table(rows, {c.field: c.field for c in columns}, "json")


def feed_rows(source: str, table: Table, zone: ZoneInfo, now: dt.datetime | None = None) -> list[FeedRow]:
    """Check every row of a feed's table; the rows, or TableFileError with an error for each bad row."""
    source = _source(source)
    now = now or utc_now()
    errors: list[TableError] = []
    out: list[FeedRow] = []
    checked: dict[str, str] = {}  # an ID cell's text -> its normalised number, for the valid ones
    for row in table.rows:
        found = _row(source, table, row, zone, now, errors, checked)
        if found is not None:
            out.append(found)
    # Duplicates by the normalised number (each checked once above); a bad number is its own row's error.
    errors += duplicate_errors(table, "id", checked.get)
    if errors:
        raise TableFileError(sorted(errors, key=lambda e: e.row or 0)[:MAX_ERRORS])
    return out


def import_feed(store: Any, venue: str, source: str, table: Table, *, by_user: str, zone: ZoneInfo,
                now: dt.datetime | None = None) -> StatusResult:
    """Check a feed's table and store it for the venue's people (audited by the store); TableFileError stores nothing."""
    rows = feed_rows(source, table, zone, now)
    records = [replace(r.record, id_hash=store.id_hash(r.id_number)) for r in rows]
    return store.add_statuses(venue, source, records, by_user=by_user)


def parse_time(text: str, zone: ZoneInfo) -> dt.datetime:
    """A feed's time: ISO 8601 (an offset kept; none: the venue's zone), or `YYYY-MM-DD[ HH:MM[:SS]]` with - or /."""
    text = text.strip()
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _FORMATS:
            try:
                moment = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise ValueError(text) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(dt.timezone.utc)
    except OverflowError:  # year 1 or 9999 with an offset: no such UTC time
        raise ValueError(text) from None


def _source(source: str) -> str:
    if source not in FEEDS:
        raise ValueError(f"unknown status feed {source!r} (authority or lab)")
    return source


def _row(source: str, table: Table, row: TableRow, zone: ZoneInfo, now: dt.datetime,
         errors: list[TableError], checked: dict[str, str]) -> FeedRow | None:
    """One row checked; its problems appended to `errors` (None then), its valid ID number to `checked`."""
    def bad(field: str, zh: str, en: str) -> None:
        errors.append(TableError(row.number, table.headers.get(field, field), zh, en))

    before = len(errors)
    value = row.values
    id_number = ""
    try:
        id_number = check_id_number(value.get("id", ""))
        checked[value.get("id", "")] = id_number
    except IdNumberError as exc:
        if "id" in row.numeric:
            bad("id", "身份证号被 Excel 存成了数字（末位已丢失），请将该列设为文本",
                "Excel stored the ID number as a number (its last digits are lost): format the column as text")
        else:
            bad("id", exc.zh, exc.en)
    record: dict[str, Any] = {}
    if source == "authority":
        colour = COLOURS.get(value.get("colour", "").strip().casefold())
        if colour is None:
            bad("colour", "健康码须为 绿/黄/红 (green/yellow/red)", "the colour must be green, yellow or red")
        since = _time(value.get("since", ""), "since", zone, now, bad)
        record = {"colour": colour, "colour_since": since}
    else:
        result = RESULTS.get(value.get("result", "").strip().casefold())
        if result is None:
            bad("result", "检测结果须为 阴性/阳性 (negative/positive)", "the result must be negative or positive")
        sampled = _time(value.get("sampled_at", ""), "sampled_at", zone, now, bad)
        record = {"test_at": sampled, "test_result": result}
    if len(errors) > before:
        return None
    return FeedRow(id_number, StatusRecord(id_hash="", row=row.number, **record))


def _time(text: str, field: str, zone: ZoneInfo, now: dt.datetime,
          bad: Callable[[str, str, str], None]) -> str | None:
    """A row's time as UTC text, or None with its error reported."""
    if not text.strip():
        bad(field, "缺少时间", "the time is missing")
        return None
    try:
        moment = parse_time(text, zone)
    except ValueError:
        bad(field, "时间格式应为 2026-12-03 08:00 或 ISO 8601", "the time must look like 2026-12-03 08:00 or ISO 8601")
        return None
    if moment > now + FUTURE_SLACK:
        bad(field, "时间晚于现在", "the time is in the future")
        return None
    if moment < EARLIEST:
        bad(field, "时间过早", "the time is before December 2019")
        return None
    return utc_text(moment)


def manual_person(store: Any, venue: str, body: ManualStatus) -> dict[str, Any] | None:
    """The enrolled person a manual entry names (by ID number, hashed, or by subject); None when there is none."""
    if body.id_number is not None:
        return store.person(venue, id_hash=store.id_hash(check_id_number(body.id_number)))
    return store.person(venue, subject=body.subject)


def manual_record(body: ManualStatus, now: dt.datetime | None = None) -> StatusRecord:
    """A manual entry as the store's record (the colour's `since` defaults to now)."""
    now = now or utc_now()
    since = body.colour_since or (now if body.colour else None)
    return StatusRecord(id_hash="", row=1, colour=body.colour, colour_since=utc_text(since) if since else None,
                        test_at=utc_text(body.test_at) if body.test_at else None, test_result=body.test_result,
                        reason=" ".join(body.reason.split()))
