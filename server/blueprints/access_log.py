"""The access log: filter by venue, gate, time, decision, failed rule; JSON or CSV."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, jsonify, request

from protocols.contract import API_PREFIX
from protocols.display import label
from server.auth import audit, role_required, scoped_venue
from server.csv_export import csv_text
from server.db import get_store
from server.http_errors import ApiError
from server.reports import DEFAULT_TZ, local_text, venue_zone
from server.store_console import BadCursor, Cursor, parse_cursor

bp = Blueprint("access_log", __name__, url_prefix=f"{API_PREFIX}/events")
CSV_COLUMNS = [
    ("id", "编号"), ("at", "时间"), ("venue", "场所"), ("gate", "闸机"), ("kind", "类型"), ("direction", "方向"),
    ("decision", "结果"), ("failed", "未通过规则"), ("name", "姓名"), ("person_class", "人员类别"),
    ("colour", "健康码"), ("celsius", "体温"), ("subject", "标识摘要"), ("bundle_version", "规则版本"),
    ("operator", "操作员"), ("received_at", "接收时间"),
]


CSV_TIMES = ("at", "received_at")
CSV_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"  # the venue's local time, its offset written beside it
CSV_LABELS = {"kind": "kind", "direction": "direction", "decision": "decision", "person_class": "person_class",
              "colour": "colour"}


def _time(name: str) -> dt.datetime | None:
    value = request.args.get(name)
    if value is None:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "bad_query", f"时间格式无效 / {name} is not an ISO 8601 time") from exc
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _int(name: str, default: int, top: int) -> int:
    value = request.args.get(name, str(default))
    if not value.isdigit() or int(value) > top:
        raise ApiError(400, "bad_query", f"{name} 须为 0..{top} 的整数 / {name} must be an integer 0..{top}")
    return int(value)


def _cursor(name: str) -> Cursor | None:
    try:
        return parse_cursor(request.args.get(name))
    except BadCursor as exc:
        raise ApiError(400, "bad_query", str(exc)) from exc


def _csv_cell(column: str, row: dict, zones: dict[str, ZoneInfo]) -> object:
    """One exported cell as a person reads it: times in the event's venue's zone, values translated."""
    value = row[column]
    if column in CSV_TIMES:
        return local_text(value, zones.get(row["venue"]) or ZoneInfo(DEFAULT_TZ), CSV_TIME_FORMAT)
    if column in CSV_LABELS:
        zh, en = label(CSV_LABELS[column], value)
        return f"{zh} {en}".strip() if en != zh else zh
    return ";".join(value) if column == "failed" else value


@bp.get("")
@role_required("supervisor")
def access_log():
    """Events newest first (a user bound to a venue: that venue's only); `format=csv`; every read audited."""
    venue = scoped_venue(request.args.get("venue"))
    decision = request.args.get("decision")
    if decision is not None and decision not in ("admit", "deny", "refer"):
        raise ApiError(400, "bad_query", "decision 须为 admit/deny/refer / decision must be admit, deny or refer")
    rows = get_store().access_log(
        venue=venue, gate=request.args.get("gate"), since=_time("since"), until=_time("until"),
        decision=decision, rule=request.args.get("rule"), limit=_int("limit", 1000, 100_000),
        offset=_int("offset", 0, 10**9), before=_cursor("before"),
    )
    fmt = request.args.get("format", "json")
    # The access log is personal data (masked names, subject hashes, temperatures): audited as the console's views.
    audit("api.events", request.query_string.decode("utf-8", "replace") or "-", venue)
    if fmt == "json":
        return jsonify(rows)
    if fmt != "csv":
        raise ApiError(400, "bad_query", "format 须为 json 或 csv / format must be json or csv")
    table = [[f"{zh} {en}" for en, zh in CSV_COLUMNS]]
    zones = {v["id"]: venue_zone(v, current_app.config.get("CONSOLE_TZ", DEFAULT_TZ)) for v in get_store().venues()}
    table += [[_csv_cell(en, r, zones) for en, _ in CSV_COLUMNS] for r in rows]
    return Response(csv_text(table), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=access-log.csv"})
