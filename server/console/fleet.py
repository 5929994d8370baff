"""The fleet: every gate of the user's venues with its own figures, and commands to a gate over MQTT
(open once with a reason, reload documents), each audited, refused for a gate of another venue."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, redirect, render_template, request, url_for

from protocols.clock import utc_now
from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp
from server.console.forms import text
from server.console.overview import venue_gates
from server.db import get_store
from server.store_commands import COMMAND_TIMEOUT_S, command_state

# What the console may ask of a gate (a subset of protocols.topics.COMMANDS), and whether it needs a reason.
CONSOLE_COMMANDS = {"open": True, "reload": False, "guard_on": False, "guard_off": False}


@bp.get("/fleet")
@login_required("guard")
def fleet():
    """Every gate of the user's venues: online, last sync, documents, outbox, clock, thermometer, places lent."""
    store = get_store()
    now = utc_now()
    cards = [{"venue": v, "current": store.versions(v["id"]), "gates": venue_gates(v, now),
              "commands": store.commands(venue=v["id"], limit=10)} for v in allowed_venues()]
    return render_template("console/fleet.html", cards=cards, now=now, state=command_state)


@bp.post("/venues/<venue_id>/gates/<gate_id>/command")
@login_required("supervisor")
def gate_command(venue_id: str, gate_id: str):
    """Queue a command for a gate (the MQTT bridge publishes it); audited; 403 outside the user's venues."""
    check_venue(venue_id)
    store = get_store()
    if not store.gates(venue_id, gate_id):
        raise ConsoleError(404, "闸机不存在 / No such gate")
    command = request.form.get("command", "")
    if command not in CONSOLE_COMMANDS:
        raise ConsoleError(400, "未知指令 / Unknown command: use open or reload")
    reason = text("reason", 200, required=CONSOLE_COMMANDS[command], source="form")
    event_id = text("event_id", 64, source="form")
    if event_id is not None:  # "open once" from a denial's page: that denial must be this gate's
        row = store.event_detail(event_id)
        if row is None or (row["venue"], row["gate"]) != (venue_id, gate_id):
            raise ConsoleError(400, "该拒绝记录不属于这台闸机 / That denial is not this gate's")
    command_id = store.create_command(venue_id, gate_id, command, g.console_user["username"], reason, event_id)
    audit("gate.command", f"{gate_id} {command} {command_id}" + (f" · {reason}" if reason else ""), venue_id)
    return redirect(url_for("console.command_page", command_id=command_id))


def _command(command_id: str) -> dict[str, Any]:
    row = get_store().command(command_id)
    if row is None:
        raise ConsoleError(404, "没有这条指令 / No such command")
    check_venue(row["venue"])
    return {**row, "state": command_state(row, utc_now())}


@bp.get("/commands/<command_id>")
@login_required("guard")
def command_page(command_id: str):
    """A command's result: done, refused, timed out, or still waiting (the page reloads itself meanwhile)."""
    return render_template("console/command.html", c=_command(command_id), timeout_s=COMMAND_TIMEOUT_S)


@bp.get("/commands/<command_id>.json")
@login_required("guard")
def command_json(command_id: str):
    """A command's state as JSON (for scripts and tests)."""
    row = _command(command_id)
    return jsonify({k: row[k] for k in ("id", "venue", "gate", "command", "reason", "state", "detail",
                                        "requested_at", "sent_at", "answered_at")})
