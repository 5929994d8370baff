"""The daily report (日报告、零报告): per venue per local day, built from the hub's events.

Every unit reports every day, also when nothing happened (POLICY.md §4). The report for day D
covers the whole local day D and is due at the venue's deadline hour on day D+1: 10:00 for
schools and kindergartens, 14:00 otherwise, unless the venue sets its own hour.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from protocols.clock import utc_text
from protocols.events import DECIDED_KINDS, REMEASURE_KIND
from server.csv_export import csv_text
from server.store import HubStore

EARLY_DEADLINE_KINDS = ("school", "kindergarten")
VENUE_KINDS = ("factory", "school", "kindergarten", "market", "canteen", "office", "village")
DEFAULT_TZ = "Asia/Shanghai"


@dataclass
class DailyReport:
    """One venue's figures for one local day."""

    venue: str
    day: str
    entries: int = 0
    exits: int = 0
    admitted: int = 0
    denied: int = 0
    referred: int = 0
    remeasures: int = 0  # re-measure prompts: not denials, the second reading decided
    denials_by_rule: dict[str, int] = field(default_factory=dict)
    fevers: list[dict[str, Any]] = field(default_factory=list)  # {"at": local time, "gate", "celsius"}: those still held
    fevers_total: int = 0  # fevers counted that day, also once retention has deleted the events
    visitors_admitted: int = 0
    peak_occupancy: int = 0
    events: int = 0
    red_codes: int = 0  # presentations with a red code (from the events: while held)
    yellow_codes: int = 0
    couriers_admitted: int = 0
    goods: list[dict[str, Any]] = field(default_factory=list)  # declared that day: {"at": local time, product...}
    gates: dict[str, dict[str, int]] = field(default_factory=dict)  # gate -> {entries, exits, admitted, denied, referred}

    @property
    def is_zero(self) -> bool:
        """Nothing happened: a zero report (零报告)."""
        return self.events == 0

    def to_json(self) -> str:
        """The report as JSON text (what a filed report keeps)."""
        return json.dumps({**asdict(self), "zero": self.is_zero}, ensure_ascii=False, sort_keys=True)


def deadline_hour(venue: dict[str, Any]) -> int:
    """The venue's daily-report deadline hour: its own setting, else 10 for schools, else 14."""
    if venue.get("report_deadline_hour") is not None:
        return int(venue["report_deadline_hour"])
    return 10 if venue.get("kind") in EARLY_DEADLINE_KINDS else 14


def deadline(venue: dict[str, Any], day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """When the report for `day` is due: the deadline hour of the next local day."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(deadline_hour(venue)), tzinfo=tz)


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The local day as an aware [start, end) interval."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)


INVALID_TIME = "无效时间 invalid time"


def venue_zone(venue: dict[str, Any] | None, default: str = DEFAULT_TZ) -> ZoneInfo:
    """The zone a venue's times are shown, exported and counted in: its `timezone`, else the hub's default."""
    return ZoneInfo((venue or {}).get("timezone") or default)


def zone_error(name: str) -> str | None:
    """Why a time zone name cannot be a venue's (a bilingual reason), or None when it is a known IANA zone."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"未知时区 {name[:64]!r}，请填 IANA 名称如 Asia/Shanghai / Unknown time zone: use an IANA name such as Asia/Shanghai"
    return None


def _parse(at: str) -> dt.datetime:
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00"))


def stored_time(value: str | None) -> dt.datetime | None:
    """A time as the hub stores it (ISO text, naive = UTC) as an aware time, or None when it is not one."""
    if not value:
        return None
    try:
        t = _parse(str(value))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


def local_text(value: str | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored UTC time as local text: "—" when empty, INVALID_TIME (and the text) when it has none."""
    if not value:
        return "—"
    t = stored_time(value)
    try:
        if t is not None:
            return t.astimezone(tz).strftime(fmt)
    except (OverflowError, ValueError):
        pass  # 9999-12-31T23:59Z is a valid stored time with no local form east of UTC
    return f"{INVALID_TIME} ({str(value)[:40]})"


def _whole_hour(t: dt.datetime) -> bool:
    """Whether a time falls on a whole UTC hour (a day's bounds do, unless its zone's offset has minutes)."""
    u = t.astimezone(dt.timezone.utc)
    return u.minute == 0 and u.second == 0 and u.microsecond == 0


def build_report(store: HubStore, venue: dict[str, Any], day: dt.date, tz: ZoneInfo) -> DailyReport:
    """Count a venue's day: entries, exits, denials by rule, fevers, visitors admitted, peak occupancy.

    Read from the per-hour counters (server/store_counts.py), so the cost is the day's hours, not its events,
    and a day whose events retention has deleted still shows its figures (fevers' times: while held). In a
    zone whose offset is not whole hours (Asia/Kolkata) the day's bounds cut hours: read from its events.
    """
    start, end = day_bounds(day, tz)
    since, until = utc_text(start), utc_text(end)
    report = DailyReport(venue=venue["id"], day=day.isoformat())
    if _whole_hour(start) and _whole_hour(end):
        counted = store.hour_counts(venue["id"], since, until)
        report.denials_by_rule = store.rule_totals(venue["id"], since, until)
    else:
        counted = [{**r, "n": 1} for r in store.day_events(venue["id"], since, until)]
        report.denials_by_rule = dict(Counter(rule for r in counted if r["decision"] == "deny"
                                              and r["kind"] != REMEASURE_KIND for rule in r["failed"] or ["—"]))
    for r in counted:
        n = r["n"]
        report.events += n
        gate = report.gates.setdefault(r["gate"], dict.fromkeys(GATE_FIGURES, 0))
        if r["effect"] == 1:
            report.entries += n
            gate["entries"] += n
            report.visitors_admitted += n if r["person_class"] == "visitor" else 0
            report.couriers_admitted += n if r["person_class"] == "courier" else 0
        elif r["effect"] == -1:
            report.exits += n
            gate["exits"] += n
        if r["kind"] == REMEASURE_KIND:
            report.remeasures += n
        elif r["decision"] == "admit" and r["kind"] in DECIDED_KINDS:
            report.admitted += n
            gate["admitted"] += n
        elif r["decision"] == "deny":
            report.denied += n
            gate["denied"] += n
        elif r["decision"] == "refer":
            report.referred += n
            gate["referred"] += n
        if r["kind"] == "fever":
            report.fevers_total += n
    report.gates = dict(sorted(report.gates.items()))
    report.denials_by_rule = dict(sorted(report.denials_by_rule.items(), key=lambda kv: (-kv[1], kv[0])))
    report.fevers = [{"at": local_text(f["at"], tz, "%H:%M:%S"), "gate": f["gate"], "celsius": f["celsius"]}
                     for f in store.fevers(venue["id"], since, until)]
    colours = store.colour_counts(venue["id"], since, until)
    report.red_codes, report.yellow_codes = colours.get("red", 0), colours.get("yellow", 0)
    report.goods = [{"at": local_text(g.pop("declared_at"), tz, "%H:%M:%S"), **g}
                    for g in store.goods_declared(venue["id"], since, until)]
    report.peak_occupancy = _peak(store, venue, start, end)
    return report


def _minute_time(minute: str) -> dt.datetime:
    return dt.datetime.fromisoformat(minute + ":00+00:00")


def _peak(store: HubStore, venue: dict[str, Any], start: dt.datetime, end: dt.datetime) -> int:
    """The most people inside at once during [start, end), at the end of any minute (the minute counters)."""
    dwell = venue.get("dwell_minutes")
    since, until = utc_text(start), utc_text(end)
    if not dwell:
        inside = peak = max(0, store.effect_before(venue["id"], since))
        for _minute, entries, exits in store.minute_changes(venue["id"], since, until):
            inside = max(0, inside + entries - exits)
            peak = max(peak, inside)
        return peak
    # No exit gates: each entry counts as inside for `dwell` minutes (as the hub's occupancy does).
    span = dt.timedelta(minutes=dwell)
    changes: list[tuple[dt.datetime, int]] = []
    for minute, entries, _exits in store.minute_changes(venue["id"], utc_text(start - span), until):
        if entries:
            t = _minute_time(minute)
            changes += [(t, entries), (t + span, -entries)]
    changes.sort(key=lambda c: (c[0], c[1]))  # a departure before an arrival at the same instant
    inside, peak = 0, None
    for t, delta in changes:
        if t >= end:
            break
        if t >= start and peak is None:
            peak = inside  # how many were inside when the day began
        inside += delta
        if t >= start:
            peak = max(peak, inside)
    return max(0, inside if peak is None else peak)


GATE_FIGURES = ("entries", "exits", "admitted", "denied", "referred")
CSV_ROWS = [
    ("entries", "进入人次"), ("exits", "离开人次"), ("admitted", "放行"), ("denied", "拒绝"),
    ("referred", "转人工"), ("remeasures", "复测提示"), ("visitors_admitted", "访客入场"), ("peak_occupancy", "最高在场人数"),
    ("fevers_total", "发热人次"), ("red_codes", "红码"), ("yellow_codes", "黄码"), ("couriers_admitted", "快递/配送员入场"),
]
GATE_LABELS = {"entries": "进入 entries", "exits": "离开 exits", "admitted": "放行 admitted", "denied": "拒绝 denied",
               "referred": "转人工 referred"}
GOODS_LABELS = (("at", "时间 time"), ("product", "品名 product"), ("supplier", "供应商 supplier"),
                ("origin", "产地 origin"), ("quantity", "数量 quantity"), ("batch", "批次 batch"))


def goods_line(g: dict[str, Any]) -> str:
    """One declared delivery as one line of text (the CSV's and the PDF's)."""
    cold = " 冷链 cold chain" if g.get("cold_chain") else ""
    return " · ".join(str(g.get(key) or "—") for key, _ in GOODS_LABELS) + cold


def report_lines(report: DailyReport) -> list[tuple[str, Any]]:
    """The report as (label, value) lines, in the order the CSV and the PDF print them."""
    lines: list[tuple[str, Any]] = [("场所 venue", report.venue), ("日期 day", report.day),
                                    ("零报告 zero report", "是 yes" if report.is_zero else "否 no")]
    lines += [(f"{zh} {key}", getattr(report, key)) for key, zh in CSV_ROWS]
    lines += [(f"拒绝规则 denied by rule {rule}", n) for rule, n in report.denials_by_rule.items()]
    lines += [("发热 fever", " ".join(str(x) for x in (f["at"], f.get("gate") or "", f["celsius"] if f["celsius"] is not None
                                                       else "") if x != ""))
              for f in report.fevers]
    lines += [(f"闸机 gate {gate} {GATE_LABELS[k]}", n) for gate, figures in report.gates.items() for k, n in figures.items()]
    lines += [("货物 goods", goods_line(g)) for g in report.goods]
    return lines


def report_csv(report: DailyReport, filed: dict[str, Any] | None = None, tz: ZoneInfo | None = None) -> str:
    """The report as CSV (bilingual labels, a BOM for spreadsheet programs, cells safe from formulas)."""
    rows: list[list[Any]] = [["项目 item", "值 value"]]
    rows += [[label, value] for label, value in report_lines(report) + filing_lines(filed, tz)]
    return csv_text(rows)


def filing_lines(filed: dict[str, Any] | None, tz: ZoneInfo | None) -> list[tuple[str, Any]]:
    """Who filed the report, when, and whether late (none when not filed)."""
    if not filed:
        return []
    return [("填报人 filed by", filed["filed_by"]),
            ("填报时间 filed at", local_text(filed["filed_at"], tz or ZoneInfo(DEFAULT_TZ), "%Y-%m-%d %H:%M:%S %z")),
            ("逾期 late", "是 yes" if filed["late"] else "否 no")]


def report_from_json(text: str) -> DailyReport:
    """A filed report's body back as a DailyReport."""
    data = json.loads(text)
    data.pop("zero", None)
    return DailyReport(**data)
