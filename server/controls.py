"""Daily controls at the hub: closed management, rule parameters and the risk-area list, each change stored as
the venue's `parameters` / `risk_areas` document and signed into its schedule (protocols/controls.py says why
there, and not into a bundle), so the gates decide by it at their next fetch.

Risk areas come as the national list publishes them (省份 / 城市 / 区县, 风险等级 高/中/低, 起始 / 截止): a CSV or
XLSX file (read by server/tabular_files.py) whose names are resolved to division codes
(protocols/division_codes.py) and whose times are in the venue's time zone. An import is all or nothing:
every bad row is named with its column, and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from protocols.bundle import DatedRiskArea
from protocols.contract import DocumentKind
from protocols.controls import MAX_AREAS, ControlError, Controls, changes, check_param, parse_controls
from protocols.cose import PrivateKey
from protocols.division_codes import DivisionError, full_name, resolve
from server.schedule import NoScheduleKey, publish_schedule, stored_controls
from server.store import HubStore
from server.tabular_files import MAX_ERRORS, Column, Table, TableError, TableFileError, read_table

# The national list's columns, by the names it and Excel users give them (server/tabular_files.py compares them).
COLUMNS = (
    Column("province", ("省份", "province", "省", "省(区、市)")),
    Column("city", ("城市", "city", "市", "地市"), required=False),
    Column("district", ("区县", "district", "区", "县", "县(区)", "county"), required=False),
    # Read, not kept: the finest code is a district's.
    Column("street", ("街道", "street", "乡镇", "街道(乡镇)", "地区"), required=False),
    Column("level", ("风险等级", "level", "等级", "risk")),
    Column("from", ("起始时间", "from", "起始", "开始时间", "开始", "生效时间", "since")),
    Column("until", ("截止时间", "until", "截止", "结束时间", "结束", "解除时间"), required=False),
)
LEVELS = {"高": "high", "高风险": "high", "high": "high", "中": "mid", "中风险": "mid", "mid": "mid",
          "medium": "mid", "低": "low", "低风险": "low", "low": "low"}
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%Y年%m月%d日")


# ---- mode and parameters -----------------------------------------------------------------------

def current(store: HubStore, venue_id: str) -> Controls:
    """The venue's daily controls now (mode, parameters, risk areas)."""
    return stored_controls(store, venue_id)


def set_controls(store: HubStore, venue: dict[str, Any], key: PrivateKey | None, timezone: str,
                 mode: str | None, params: Mapping[str, Any]) -> list[str]:
    """Store a new mode and parameters (each checked against its range: ControlError naming the field) and
    publish the schedule carrying them; what changed, "name before→after" (empty: nothing did)."""
    if key is None:
        raise NoScheduleKey("the hub has no schedule key ($CHECKPOINT_SCHEDULE_KEY): controls cannot be signed")
    checked = {name: check_param(name, value) for name, value in params.items()}
    if mode not in (None, "open", "closed"):
        raise ControlError(f"mode must be open or closed, not {mode!r}", "mode")
    before = current(store, venue["id"])
    moved = changes({"mode": before.mode, **before.params}, {"mode": mode, **checked})
    if moved:
        body = {"mode": mode, "params": checked} if mode is not None else {"params": checked}
        store.put_document(venue["id"], DocumentKind.PARAMETERS, _json(body), "application/json")
        publish_schedule(store, venue, key, timezone)
    return moved


# ---- risk areas ----------------------------------------------------------------------------------

def _time(text: str, zone: ZoneInfo) -> dt.datetime | None:
    """A time as the list prints it, in the venue's zone (a date alone: its midnight); None if it is none."""
    for form in TIME_FORMATS:
        try:
            return dt.datetime.strptime(text, form).replace(tzinfo=zone).astimezone(dt.timezone.utc)
        except ValueError:
            continue
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)).astimezone(dt.timezone.utc)


def parse_areas(table: Table, zone: ZoneInfo) -> list[DatedRiskArea]:
    """Dated risk areas from a read table; TableFileError with every bad row (its row and column) if any."""
    if len(table.rows) > MAX_AREAS:
        raise TableFileError([TableError(None, None, f"超过 {MAX_AREAS} 个地区", f"more than {MAX_AREAS} areas")])
    errors: list[TableError] = []
    areas: list[DatedRiskArea] = []
    for row in table.rows:
        cell = lambda field: row.values.get(field, "")  # noqa: E731
        named = lambda field: table.headers.get(field, field)  # noqa: E731 - the column as the file names it
        found = len(errors)
        try:
            division = resolve(cell("province"), cell("city") or None, cell("district") or None)
        except DivisionError as exc:
            errors.append(TableError(row.number, named("district" if cell("district") else "province"),
                                     "无法识别的地区名称", str(exc)))
        level = LEVELS.get(cell("level").lower())
        if level is None:
            errors.append(TableError(row.number, named("level"), "风险等级须为 高/中/低",
                                     "the level must be 高/中/低 (high/mid/low)"))
        start = _time(cell("from"), zone)
        if start is None:
            errors.append(TableError(row.number, named("from"), "起始时间无效（如 2026-12-01 或 2026-12-01 10:00）",
                                     "not a time (e.g. 2026-12-01 or 2026-12-01 10:00)"))
        until = _time(cell("until"), zone) if cell("until") else None
        if cell("until") and until is None:
            errors.append(TableError(row.number, named("until"), "截止时间无效", "not a time"))
        elif until is not None and start is not None and until <= start:
            errors.append(TableError(row.number, named("until"), "截止时间须晚于起始时间", "until must be after from"))
        if len(errors) == found:
            areas.append(DatedRiskArea(region=division.code, level=level, name=full_name(division.code),
                                       start=start, until=until))
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise TableFileError(errors)
    return areas


def import_risk_areas(store: HubStore, venue: dict[str, Any], key: PrivateKey | None, timezone: str,
                      filename: str, data: bytes, zone: ZoneInfo) -> tuple[int, int]:
    """Replace the venue's risk-area list with a file's (all or nothing) and publish it; (areas before, after)."""
    if key is None:
        raise NoScheduleKey("the hub has no schedule key ($CHECKPOINT_SCHEDULE_KEY): risk areas cannot be signed")
    areas = parse_areas(read_table(data, filename, COLUMNS), zone)
    before = len(current(store, venue["id"]).risk_areas)
    body = {"risk_areas": [a.model_dump(mode="json", by_alias=True) for a in areas]}
    parse_controls(body)  # the shape the gates will check
    store.put_document(venue["id"], DocumentKind.RISK_AREAS, _json(body), "application/json")
    publish_schedule(store, venue, key, timezone)
    return before, len(areas)


def check_document(kind: str, body: bytes) -> None:
    """A `parameters` or `risk_areas` document put over the API must be what the schedule can carry."""
    if kind not in (DocumentKind.PARAMETERS, DocumentKind.RISK_AREAS):
        return
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ControlError(f"{kind} is not JSON: {exc}") from None
    allowed = {"mode", "params"} if kind == DocumentKind.PARAMETERS else {"risk_areas"}
    if not isinstance(data, dict) or set(data) - allowed:
        raise ControlError(f"{kind} is an object with only {', '.join(sorted(allowed))}", kind)
    parse_controls(data)


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
