"""A venue's time windows (people's API): its roster groups' meal slots and zones, and staff shifts.

Each change is signed with the hub's schedule key and published as the venue's `schedule` document
(server/schedule.py), with the bookings, so the gates enforce it from the next fetch.
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, jsonify, request

from protocols.contract import API_PREFIX
from protocols.schedule import DEFAULT_TIMEZONE
from protocols.topics import SEGMENT
from server.auth import audit, role_required
from server.bodies import GateZone, ScheduleGroup
from server.db import get_store
from server.http_errors import ApiError
from server.schedule import NoScheduleKey, publish_schedule

bp = Blueprint("schedule", __name__, url_prefix=f"{API_PREFIX}/venues/<venue_id>/schedule")


def _venue(venue_id: str) -> dict:
    venue = get_store().venue(venue_id)
    if venue is None:
        raise ApiError(404, "no_such_venue", "场所不存在 / no such venue")
    return venue


def _group_name(name: str) -> str:
    if not SEGMENT.match(name):
        raise ApiError(422, "bad_group", "分组名须为1-64位字母、数字或 _ . - / a group name is 1-64 of A-Z a-z 0-9 _ . -")
    return name


def publish(venue: dict) -> dict:
    """Sign and publish the venue's schedule now; 409 when the hub has no schedule key."""
    try:
        return publish_schedule(get_store(), venue, current_app.extensions.get("schedule_key"), timezone())
    except NoScheduleKey as exc:
        raise ApiError(409, NoScheduleKey.reason, f"中心未配置时段签名密钥 / {exc}") from exc


def timezone() -> str:
    """The venue's time zone for daily slots: the hub's local zone (the console's), Asia/Shanghai by default."""
    return current_app.config.get("CONSOLE_TZ", DEFAULT_TIMEZONE)


@bp.get("")
@role_required("supervisor")
def show(venue_id: str):
    """The venue's groups with their time windows, and the version of the schedule its gates run."""
    _venue(venue_id)
    groups = {g["name"]: {"kind": g["kind"], "zones": json.loads(g["zones"]), "slots": json.loads(g["slots"])}
              for g in get_store().schedule_groups(venue_id)}
    return jsonify({"groups": groups, "version": get_store().versions(venue_id).get("schedule")})


@bp.put("/groups/<name>")
@role_required("admin")
def put_group(venue_id: str, name: str):
    """Set a group's meal slots and zones, or its shift; publishes a new signed schedule."""
    venue = _venue(venue_id)
    name = _group_name(name)
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "请求须为 JSON / the body must be application/json")
    group = ScheduleGroup.model_validate_json(request.get_data(cache=False))
    if current_app.extensions.get("schedule_key") is None:  # refuse before storing what no gate would get
        publish(venue)
    data = group.model_dump(mode="json", by_alias=True)
    get_store().put_schedule_group(venue_id, name, group.kind, json.dumps(data["zones"], ensure_ascii=False),
                                   json.dumps(data["slots"]))
    published = publish(venue)
    audit("schedule.group", f"{name} v{published['version']}", venue_id)
    return jsonify({"group": name, **data, "published": published})


@bp.delete("/groups/<name>")
@role_required("admin")
def delete_group(venue_id: str, name: str):
    """Remove a group's windows (its people are no longer time-limited); publishes a new signed schedule."""
    venue = _venue(venue_id)
    if not get_store().delete_schedule_group(venue_id, name):
        raise ApiError(404, "no_such_group", "该分组未设时段 / this group has no time windows")
    published = publish(venue)
    audit("schedule.group_delete", f"{name} v{published['version']}", venue_id)
    return "", 204


@bp.put("/gates/<gate_id>")
@role_required("admin")
def put_gate_zone(venue_id: str, gate_id: str):
    """Set the canteen zone a gate stands in (null: none); publishes a new signed schedule (audited, before/after)."""
    venue = _venue(venue_id)
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "请求须为 JSON / the body must be application/json")
    body = GateZone.model_validate_json(request.get_data(cache=False))
    if not get_store().gates(venue_id, gate_id):
        raise ApiError(404, "no_such_gate", "闸机不存在 / no such gate")
    if current_app.extensions.get("schedule_key") is None:  # refuse before storing what no gate would get
        publish(venue)
    before = get_store().set_gate_zone(venue_id, gate_id, body.zone)
    published = publish(venue)
    audit("schedule.gate_zone", f"{gate_id}: {before or '-'} -> {body.zone or '-'} v{published['version']}", venue_id)
    return jsonify({"gate": gate_id, "zone": body.zone, "published": published})
