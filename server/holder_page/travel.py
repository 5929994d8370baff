"""The holder's travel declaration (issue 10): the regions of the last 14 days with their dates, picked by
name from China's administrative divisions (`protocols/division_codes.py`, served here as JSON: nothing
loads from outside the hub), stored as the status source "declaration" and carried as stays in the next pass.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from protocols.clock import utc_now
from protocols.credential import Stay
from protocols.division_codes import DivisionError, choices, division, full_name, is_leaf
from server.db import get_store
from server.holder_page import _link, bp
from server.issuing import PersonStatus
from server.reports import venue_zone
from server.store_people import StatusRecord

LOOKBACK_DAYS = 14  # POLICY.md: a stay in a risk area within the last 14 days
MAX_DECLARED = 16


class TravelDeclaration(BaseModel):
    """What the holder's page posts: where they stayed in the last 14 days (an empty list: nowhere else)."""

    model_config = ConfigDict(extra="forbid")
    stays: list[Stay] = Field(max_length=MAX_DECLARED)


def _refused(reason: str, zh: str, en: str, status: int = 422):
    return jsonify({"ok": False, "reason": reason, "message": f"{zh} / {en}"}), status


@bp.get("/<secret>/divisions")
def divisions_json(secret: str):
    """The divisions to pick from under `parent` (the provinces without one): [{code, name, leaf}]."""
    _link(secret)
    parent = request.args.get("parent") or None
    try:
        if parent is not None:
            division(parent)
        found = choices(parent)
    except DivisionError:
        return _refused("bad_division", "没有这个行政区划", "no such administrative division")
    return jsonify([{"code": d.code, "name": d.name, "leaf": is_leaf(d.code)} for d in found])


@bp.post("/<secret>/declaration")
def declare_travel(secret: str):
    """The holder declares their stays of the last 14 days (venue's dates); the next passes carry them."""
    link = _link(secret)
    store = get_store()
    person = store.person(link["venue"], subject=link["subject"])
    if person is None:
        return _refused("not_enrolled", "您不在该场所名单上", "you are not on the venue's roster", 403)
    if not request.is_json:
        return _refused("unsupported_media_type", "请求须为 JSON", "the body must be application/json", 415)
    try:
        body = TravelDeclaration.model_validate_json(request.get_data(cache=False))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return _refused("bad_declaration", f"行程信息有误（{where}）", f"check the stays ({where}): {first['msg']}")
    venue = store.venue(link["venue"]) or {}
    today = utc_now().astimezone(venue_zone(venue, current_app.config.get("CONSOLE_TZ", "Asia/Shanghai"))).date()
    earliest = today - dt.timedelta(days=LOOKBACK_DAYS)
    for i, stay in enumerate(body.stays, start=1):
        try:
            leaf = is_leaf(stay.region)
        except DivisionError:
            return _refused("bad_division", f"第 {i} 条行程的地区不存在", f"stay {i}: no such region")
        if not leaf:
            return _refused("bad_division", f"第 {i} 条行程请选到区县", f"stay {i}: pick the district too")
        # A stay that began before the window but ended inside it counts: it is declared as it was.
        if not (earliest <= stay.end <= today and stay.end - dt.timedelta(days=366) <= stay.start <= stay.end):
            return _refused("bad_dates", f"第 {i} 条行程须在近 {LOOKBACK_DAYS} 天内结束，且开始不晚于结束",
                            f"stay {i}: it must end within the last {LOOKBACK_DAYS} days and start before it ends")
    stays = [[s.region, s.start.isoformat(), s.end.isoformat()] for s in body.stays]
    store.add_person_status(link["venue"], person["id"], "declaration",
                            StatusRecord(id_hash=person["id_hash"], row=1, stays=stays), by_user="holder")
    names = "、".join(full_name(s.region) for s in body.stays) or "无 none"
    return jsonify({"ok": True, "declared": len(stays),
                    "message": f"已申报：{names}；新的通行码将携带行程 / Declared: your next pass carries "
                               f"{len(stays)} stay(s)"})


def shown_stays(status: PersonStatus | None) -> list[dict[str, str]]:
    """The holder's declared stays as the page lists them: code, full name, dates."""
    if status is None:
        return []
    return [{"region": s.region, "name": full_name(s.region), "start": s.start.isoformat(), "end": s.end.isoformat()}
            for s in status.stays]
