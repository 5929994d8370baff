"""Venues, gates, enrollment tokens, occupancy and reservations (people's API)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy.exc import IntegrityError

from protocols.clock import utc_text
from protocols.contract import API_PREFIX, wire
from server.blueprints import schedule
from server.auth import audit, check_venue, in_scope, role_required
from server.bodies import Bilingual, GateCreate, GateLease, ReservationRequest, VenueCreate, VenueSettings
from server.db import get_store
from server.gatherings import check, tier
from server.http_errors import ApiError
from server.leases import LentPlaces, ReclaimRefused, overfill_risk

bp = Blueprint("venues", __name__, url_prefix=f"{API_PREFIX}/venues")


def _body() -> bytes:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "请求须为 JSON / the body must be application/json")
    return request.get_data(cache=False)


def _venue(venue_id: str) -> dict:
    venue = get_store().venue(venue_id)
    if venue is None:
        raise ApiError(404, "no_such_venue", "场所不存在 / no such venue")
    return venue


def _public(venue: dict) -> dict:
    out = {k: v for k, v in venue.items() if k != "created_at"}
    out["plan_approved"] = bool(out.get("plan_approved"))
    out["tier"] = tier(venue.get("gathering"))
    return out


@bp.get("")
@role_required("supervisor")
def list_venues():
    """Every venue with its settings (a user bound to a venue sees only it)."""
    return jsonify([_public(v) for v in get_store().venues() if in_scope(g.user_venue, v["id"])])


@bp.post("")
@role_required("admin")
def create_venue():
    """Create a venue (refused when its gathering tier forbids it)."""
    if g.user_venue is not None:  # a new venue is hub-wide business: only an admin of every venue
        check_venue(None)
    body = VenueCreate.model_validate_json(_body())
    check(body.gathering, body.plan_approved)
    try:
        venue = get_store().create_venue(body.id, body.model_dump(exclude={"id"}))
    except IntegrityError as exc:
        raise ApiError(409, "venue_exists", "场所已存在 / the venue exists") from exc
    audit("venue.create", body.id, body.id)
    return jsonify(_public(venue)), 201


@bp.get("/<venue_id>")
@role_required("supervisor")
def get_venue(venue_id: str):
    """One venue's settings."""
    return jsonify(_public(_venue(venue_id)))


@bp.patch("/<venue_id>")
@role_required("admin")
def update_venue(venue_id: str):
    """Change some of a venue's settings."""
    venue = _venue(venue_id)
    body = VenueSettings.model_validate_json(_body())
    changes = body.model_dump(exclude_unset=True)
    check(changes.get("gathering", venue["gathering"]), changes.get("plan_approved", venue["plan_approved"]))
    audit("venue.update", ",".join(sorted(changes)) or "-", venue_id)
    return jsonify(_public(get_store().update_venue(venue_id, changes) or venue))


@bp.get("/<venue_id>/occupancy")
@role_required("guard")
def occupancy(venue_id: str):
    """How many are inside, the cap, what is lent to gates and what is free."""
    venue = _venue(venue_id)
    answer = get_store().occupancy(venue_id) or {}
    answer["tier"] = tier(venue.get("gathering"))
    return jsonify(answer)


@bp.get("/<venue_id>/gates")
@role_required("supervisor")
def list_gates(venue_id: str):
    """A venue's gates: versions they run, last seen, lease held."""
    _venue(venue_id)
    return jsonify(get_store().gates(venue_id))


def lent_json(lent: LentPlaces, **extra: int) -> dict:
    """One gate's lent places as the API answers them (a GateLease), with the risk a reclaim would run."""
    zh, en = overfill_risk(lent.held)
    return wire(GateLease(gate=lent.gate, direction=lent.direction, held=lent.held, last_contact=lent.last_contact,
                          silent_s=None if lent.silent_s is None else round(lent.silent_s, 1),
                          reclaim_after_s=lent.reclaim_after_s, reclaimable=lent.reclaimable,
                          reclaimed_at=lent.reclaimed_at, overfill_risk=Bilingual(zh=zh, en=en), **extra))


@bp.get("/<venue_id>/leases")
@role_required("supervisor")
def list_leases(venue_id: str):
    """Places lent per gate, each gate's last contact, and whether a supervisor may reclaim them now."""
    _venue(venue_id)
    return jsonify([lent_json(lent) for lent in get_store().lent_places(venue_id)])


@bp.post("/<venue_id>/gates/<gate_id>/lease/reclaim")
@role_required("supervisor")
def reclaim_lease(venue_id: str, gate_id: str):
    """Take back the places lent to a gate silent longer than the venue's setting (audited); 409 otherwise.

    The venue may then exceed its cap by up to that many (the answer's `overfill_risk`)."""
    _venue(venue_id)
    try:
        lent = get_store().reclaim_lease(venue_id, gate_id, g.user)
    except KeyError as exc:
        raise ApiError(404, "no_such_gate", "闸机不存在 / no such gate") from exc
    except ReclaimRefused as exc:
        raise ApiError(409, exc.reason, str(exc)) from exc
    return jsonify(lent_json(lent, reclaimed=lent.held))


@bp.post("/<venue_id>/gates")
@role_required("admin")
def create_gate(venue_id: str):
    """Add a gate to a venue."""
    _venue(venue_id)
    body = GateCreate.model_validate_json(_body())
    gate = get_store().create_gate(venue_id, body.id, body.name, body.direction)
    audit("gate.create", body.id, venue_id)
    return jsonify(gate), 201


@bp.post("/<venue_id>/gates/<gate_id>/enroll-token")
@role_required("admin")
def enroll_token(venue_id: str, gate_id: str):
    """A one-time token a device at this gate enrolls with."""
    _venue(venue_id)
    if not get_store().gates(venue_id, gate_id):
        raise ApiError(404, "no_such_gate", "闸机不存在 / no such gate")
    token = get_store().create_enroll_token(venue_id, gate_id)
    audit("gate.enroll_token", gate_id, venue_id)
    return jsonify({"token": token, "venue": venue_id, "gate": gate_id}), 201


@bp.post("/<venue_id>/reservations")
@role_required("guard")
def reserve(venue_id: str):
    """Book a subject into a staggered time slot (限量、预约、错峰)."""
    venue = _venue(venue_id)
    if not venue.get("slot_minutes") or not venue.get("slot_capacity"):
        raise ApiError(422, "no_reservations", "该场所未设预约时段 / this venue takes no reservations")
    body = ReservationRequest.model_validate_json(_body())
    at = body.at if body.at.tzinfo else body.at.replace(tzinfo=dt.timezone.utc)
    at = at.astimezone(dt.timezone.utc)
    minutes = (at.hour * 60 + at.minute) // venue["slot_minutes"] * venue["slot_minutes"]
    slot = utc_text(at.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(minutes=minutes))
    booking = get_store().reserve(venue_id, slot, body.subject, venue["slot_capacity"])
    if booking is None:
        raise ApiError(409, "slot_full", "该时段已约满 / this time slot is full")
    audit("reservation.create", slot, venue_id)  # a subject's booking: personal data written
    # The gates enforce bookings in 预约 mode: a new one reaches them in the signed schedule.
    if current_app.extensions.get("schedule_key") is not None:
        schedule.publish(venue)
    return jsonify({"id": booking, "slot": slot}), 201


@bp.get("/<venue_id>/reservations")
@role_required("guard")
def slots(venue_id: str):
    """Bookings per slot."""
    _venue(venue_id)
    return jsonify(get_store().slots(venue_id))


@bp.get("/<venue_id>/devices")
@role_required("admin")
def list_devices(venue_id: str):
    """A venue's enrolled devices (ids, gates, enrolled and revoked times)."""
    _venue(venue_id)
    return jsonify(get_store().devices(venue_id))


@bp.delete("/<venue_id>/devices/<device_id>")
@role_required("admin")
def revoke_device(venue_id: str, device_id: str):
    """Revoke a lost or stolen device: its credential stops working at once."""
    _venue(venue_id)
    if not get_store().revoke_device(venue_id, device_id):
        raise ApiError(404, "no_such_device", "设备不存在或已吊销 / no such device, or already revoked")
    audit("device.revoke", device_id, venue_id)
    return "", 204
