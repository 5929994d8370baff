"""Places lent to gates: a supervisor reclaims those of a gate silent too long, after a page that states the risk."""

from __future__ import annotations

from flask import g, redirect, render_template, url_for

from server.console.access import check_venue, login_required
from server.console.blueprint import ConsoleError, bp
from server.db import get_store
from server.leases import LentPlaces, ReclaimRefused, overfill_risk


def _lent(venue_id: str, gate_id: str) -> LentPlaces:
    check_venue(venue_id)
    found = [p for p in get_store().lent_places(venue_id) if p.gate == gate_id]
    if not found:
        raise ConsoleError(404, "闸机不存在 / No such gate")
    return found[0]


@bp.get("/venues/<venue_id>/gates/<gate_id>/reclaim")
@login_required("supervisor")
def reclaim_page(venue_id: str, gate_id: str):
    """The confirmation: what the gate holds, how long it has been silent, and the overfill risk (zh, en)."""
    lent = _lent(venue_id, gate_id)
    return render_template("console/reclaim.html", venue_id=venue_id, lent=lent, risk=overfill_risk(lent.held))


@bp.post("/venues/<venue_id>/gates/<gate_id>/reclaim")
@login_required("supervisor")
def reclaim(venue_id: str, gate_id: str):
    """Take the places back (audited in the store's transaction); refused while the gate is not silent long enough."""
    _lent(venue_id, gate_id)
    try:
        get_store().reclaim_lease(venue_id, gate_id, g.console_user["username"])
    except ReclaimRefused as exc:
        raise ConsoleError(409, str(exc)) from exc
    return redirect(url_for("console.overview"))
