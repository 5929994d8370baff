"""Venue scope as one table: every route of the OpenAPI document and of the console, for each role
bound to one venue, asked about its own venue and about another -> the status expected.

The test walks the table against a real app on a real SQLite file, and fails on a route the app
serves (app.url_map) or the OpenAPI document names that the table leaves out.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ulid import ULID

from protocols.events import GateEvent, RuleResult
from server.store_people import PersonRecord

PASSWORD = "pass-word-1"
ID_NUMBER = "11010519491231002X"  # GB 11643's own example
OWN, OTHER = "school1", "factory1"
ROLES = ("admin", "supervisor", "guard")  # each bound to OWN
_n = itertools.count(1)

# A request: (method, path, keyword arguments of the test client's open), made for one venue.
Request = tuple[str, str, dict[str, Any]]


def _day() -> str:
    """A past day never filed before (each report may be filed once)."""
    return (dt.date.today() - dt.timedelta(days=2 + next(_n))).isoformat()


def _visit(hub, venue: str) -> int:
    return hub.store.create_visit(venue, "张*明", "ab" * 16, "host", "visit", "2030-01-01T01:00:00Z",
                                  "2030-01-01T02:00:00Z", "admin")


def _alert(hub, venue: str) -> str:
    from server.alerts import Raise

    n = next(_n)
    return hub.store.raise_alerts([Raise("gate_offline", f"test:{n}", venue, "north", None, "2030-01-01T00:00:00Z", {})])[0]


def _command(hub, venue: str) -> str:
    return hub.store.create_command(venue, "north", "reload", "admin", None, None)


def _holder_link(hub, venue: str) -> str:
    """A fresh link of the venue's enrolled courier (the one before it stops working)."""
    return hub.store.issue_holder_link(venue, hub.holder[venue], "admin")


def _preview(hub, venue: str) -> str:
    """A bundle preview of the venue that no gate was asked to replay."""
    return hub.store.create_preview(venue, "school-gate-1.2.0-test", b"{}", "admin", [])


def _device(hub, venue: str) -> str:
    return hub.store.redeem_token(hub.store.create_enroll_token(venue, "north"))[0].id


ROSTER_CSV = "身份证号,姓名,人员类别,分组\r\n11010519491231002X,张三丰,员工,A\r\n".encode()
S = dict  # {role: (status for its own venue, status for the other venue)}


def every(own: int, other: int | None = None) -> S:
    """The same statuses for every role."""
    return {r: (own, own if other is None else other) for r in ROLES}


def at_least(role: str, own: int, other: int = 403) -> S:
    """Roles at or above `role`: own -> `own`, other -> `other`; roles below: 403 either way."""
    rank = {"guard": 1, "supervisor": 2, "admin": 3}
    return {r: ((own, other) if rank[r] >= rank[role] else (403, 403)) for r in ROLES}


# route ("METHOD /flask/rule") -> (how to ask for a venue, expected statuses)
TABLE: dict[str, tuple[Callable[[Any, str], Request], S]] = {
    # ---- device and public routes: a person's credentials are not a device's --------------------
    # Counts and times, no personal data; without a token, loopback only (the test client is 127.0.0.1).
    "GET /metrics": (lambda h, v: ("GET", "/metrics", {}), every(200)),
    "POST /api/v1/enroll": (lambda h, v: ("POST", "/api/v1/enroll", {"json": {"token": "x" * 20}}), every(403)),
    "POST /api/v1/device/sync": (lambda h, v: ("POST", "/api/v1/device/sync", {"json": {"events": []}}), every(401)),
    "POST /api/v1/device/lease": (lambda h, v: ("POST", "/api/v1/device/lease", {"json": {"want": 1}}), every(401)),
    "GET /api/v1/device/documents/<kind>": (lambda h, v: ("GET", "/api/v1/device/documents/roster", {}), every(401)),
    "GET /openapi.json": (lambda h, v: ("GET", "/openapi.json", {}), every(200)),
    "GET /healthz": (lambda h, v: ("GET", "/healthz", {}), every(200)),
    "GET /": (lambda h, v: ("GET", "/", {}), every(302)),  # to the console
    "GET /static/<path:filename>": (lambda h, v: ("GET", "/static/none.css", {}), every(404)),
    # ---- people's API ---------------------------------------------------------------------------
    "GET /api/v1/venues": (lambda h, v: ("GET", "/api/v1/venues", {}), at_least("supervisor", 200, 200)),
    # A bound admin may not create venues: that is the business of an admin of every venue.
    "POST /api/v1/venues": (lambda h, v: ("POST", "/api/v1/venues", {"json": {"id": f"new{next(_n)}"}}), every(403)),
    "GET /api/v1/venues/<venue_id>": (lambda h, v: ("GET", f"/api/v1/venues/{v}", {}), at_least("supervisor", 200)),
    "PATCH /api/v1/venues/<venue_id>": (lambda h, v: ("PATCH", f"/api/v1/venues/{v}", {"json": {"cap": 99}}),
                                        at_least("admin", 200)),
    "GET /api/v1/venues/<venue_id>/occupancy": (lambda h, v: ("GET", f"/api/v1/venues/{v}/occupancy", {}),
                                                at_least("guard", 200)),
    "GET /api/v1/venues/<venue_id>/gates": (lambda h, v: ("GET", f"/api/v1/venues/{v}/gates", {}),
                                            at_least("supervisor", 200)),
    "POST /api/v1/venues/<venue_id>/gates": (
        lambda h, v: ("POST", f"/api/v1/venues/{v}/gates", {"json": {"id": f"g{next(_n)}"}}), at_least("admin", 201)),
    "POST /api/v1/venues/<venue_id>/gates/<gate_id>/enroll-token": (
        lambda h, v: ("POST", f"/api/v1/venues/{v}/gates/north/enroll-token", {}), at_least("admin", 201)),
    "GET /api/v1/venues/<venue_id>/leases": (lambda h, v: ("GET", f"/api/v1/venues/{v}/leases", {}),
                                             at_least("supervisor", 200)),
    # `north` was never lent a place: the reclaim is refused (409) once the scope check lets it through.
    "POST /api/v1/venues/<venue_id>/gates/<gate_id>/lease/reclaim": (
        lambda h, v: ("POST", f"/api/v1/venues/{v}/gates/north/lease/reclaim", {}), at_least("supervisor", 409)),
    "POST /api/v1/venues/<venue_id>/reservations": (
        lambda h, v: ("POST", f"/api/v1/venues/{v}/reservations",
                      {"json": {"subject": f"s{next(_n)}", "at": "2030-01-01T09:10:00Z"}}), at_least("guard", 201)),
    "GET /api/v1/venues/<venue_id>/reservations": (lambda h, v: ("GET", f"/api/v1/venues/{v}/reservations", {}),
                                                   at_least("guard", 200)),
    "GET /api/v1/venues/<venue_id>/devices": (lambda h, v: ("GET", f"/api/v1/venues/{v}/devices", {}),
                                              at_least("admin", 200)),
    "DELETE /api/v1/venues/<venue_id>/devices/<device_id>": (
        lambda h, v: ("DELETE", f"/api/v1/venues/{v}/devices/{_device(h, v)}", {}), at_least("admin", 204)),
    "PUT /api/v1/venues/<venue_id>/documents/<kind>": (
        lambda h, v: ("PUT", f"/api/v1/venues/{v}/documents/roster", {"data": b"[]", "content_type": "application/json"}),
        at_least("admin", 201)),
    # A dry run of a one-person roster: 200 once role and venue are let through (nothing stored).
    "POST /api/v1/venues/<venue_id>/roster": (
        lambda h, v: ("POST", f"/api/v1/venues/{v}/roster", {"query_string": {"dry_run": "1"}, "data": ROSTER_CSV}),
        at_least("admin", 200)),
    "GET /api/v1/venues/<venue_id>/documents": (lambda h, v: ("GET", f"/api/v1/venues/{v}/documents", {}),
                                                at_least("supervisor", 200)),
    "GET /api/v1/venues/<venue_id>/schedule": (lambda h, v: ("GET", f"/api/v1/venues/{v}/schedule", {}),
                                               at_least("supervisor", 200)),
    # This hub has no schedule key: the edit is refused (409) once role and venue are let through.
    "PUT /api/v1/venues/<venue_id>/schedule/groups/<name>": (
        lambda h, v: ("PUT", f"/api/v1/venues/{v}/schedule/groups/A",
                      {"json": {"kind": "shift", "slots": [{"from": "08:00", "to": "17:00"}]}}), at_least("admin", 409)),
    "PUT /api/v1/venues/<venue_id>/schedule/gates/<gate_id>": (
        lambda h, v: ("PUT", f"/api/v1/venues/{v}/schedule/gates/north", {"json": {"zone": "east"}}), at_least("admin", 409)),
    # No such group: 404 once role and venue are let through.
    "DELETE /api/v1/venues/<venue_id>/schedule/groups/<name>": (
        lambda h, v: ("DELETE", f"/api/v1/venues/{v}/schedule/groups/A", {}), at_least("admin", 404)),
    "GET /api/v1/venues/<venue_id>/alerts": (lambda h, v: ("GET", f"/api/v1/venues/{v}/alerts", {}),
                                             at_least("supervisor", 200)),
    # A new alert each time: an acknowledged one answers 409.
    "POST /api/v1/venues/<venue_id>/alerts/<alert_id>/ack": (
        lambda h, v: ("POST", f"/api/v1/venues/{v}/alerts/{_alert(h, v)}/ack", {"json": {"note": "called"}}),
        at_least("supervisor", 200)),
    # An empty feed stores nothing; nobody is enrolled, so a manual entry finds no one (404).
    "POST /api/v1/venues/<venue_id>/status/<source>": (
        lambda h, v: ("POST", f"/api/v1/venues/{v}/status/authority", {"json": []}), at_least("supervisor", 200)),
    "POST /api/v1/venues/<venue_id>/status/manual": (
        lambda h, v: ("POST", f"/api/v1/venues/{v}/status/manual",
                      {"json": {"subject": "ab" * 16, "colour": "red", "reason": "test"}}), at_least("supervisor", 404)),
    "GET /api/v1/venues/<venue_id>/alert-settings": (lambda h, v: ("GET", f"/api/v1/venues/{v}/alert-settings", {}),
                                                     at_least("supervisor", 200)),
    "PUT /api/v1/venues/<venue_id>/alert-settings": (
        lambda h, v: ("PUT", f"/api/v1/venues/{v}/alert-settings", {"json": {"mail_to": "duty@example.org"}}),
        at_least("admin", 200)),
    "GET /api/v1/events": (lambda h, v: ("GET", "/api/v1/events", {"query_string": {"venue": v}}),
                           at_least("supervisor", 200)),
    # ---- the console (signed in by session; POSTs carry the CSRF token) --------------------------
    "GET /console/static/<path:filename>": (lambda h, v: ("GET", "/console/static/console.css", {}), every(200)),
    "GET /console/login": (lambda h, v: ("GET", "/console/login", {}), every(200)),
    "POST /console/login": (lambda h, v: ("POST", "/console/login", {"data": {"username": f"nobody{next(_n)}", "password": "x"}}),
                            every(401)),
    "POST /console/logout": (lambda h, v: ("POST", "/console/logout", {"fresh": True}), every(302)),
    "GET /console/": (lambda h, v: ("GET", "/console/", {}), every(200)),
    "GET /console/audit": (lambda h, v: ("GET", "/console/audit", {}), at_least("admin", 200, 200)),
    "GET /console/fleet": (lambda h, v: ("GET", "/console/fleet", {}), every(200)),  # the user's own venues only
    "GET /console/overview/live": (lambda h, v: ("GET", "/console/overview/live", {"query_string": {"venue": v}}),
                                   at_least("guard", 200)),
    "POST /console/venues/<venue_id>/gates/<gate_id>/command": (
        lambda h, v: ("POST", f"/console/venues/{v}/gates/north/command", {"data": {"command": "reload"}}),
        at_least("supervisor", 302)),
    "GET /console/commands/<command_id>": (lambda h, v: ("GET", f"/console/commands/{_command(h, v)}", {}),
                                           at_least("guard", 200)),
    "GET /console/commands/<command_id>.json": (lambda h, v: ("GET", f"/console/commands/{_command(h, v)}.json", {}),
                                                at_least("guard", 200)),
    "GET /console/venues": (lambda h, v: ("GET", "/console/venues", {}), at_least("admin", 200, 200)),
    "POST /console/venues/<venue_id>": (
        lambda h, v: ("POST", f"/console/venues/{v}", {"data": {"kind": "school"}}), at_least("admin", 302)),
    "GET /console/venues/<venue_id>/gates/<gate_id>/reclaim": (
        lambda h, v: ("GET", f"/console/venues/{v}/gates/north/reclaim", {}), at_least("supervisor", 200)),
    # `north` holds no places: refused (409) once role and venue are let through.
    "POST /console/venues/<venue_id>/gates/<gate_id>/reclaim": (
        lambda h, v: ("POST", f"/console/venues/{v}/gates/north/reclaim", {}), at_least("supervisor", 409)),
    "GET /console/alerts": (lambda h, v: ("GET", "/console/alerts", {"query_string": {"venue": v}}),
                            at_least("supervisor", 200)),
    "POST /console/alerts/<alert_id>/ack": (
        lambda h, v: ("POST", f"/console/alerts/{_alert(h, v)}/ack", {"data": {"note": "called"}}),
        at_least("supervisor", 302)),
    "POST /console/alerts/settings/<venue_id>": (
        lambda h, v: ("POST", f"/console/alerts/settings/{v}", {"data": {"mail_to": "duty@example.org"}}),
        at_least("admin", 302)),
    # The stream follows the user's own venues (none is named to it); life=0: one frame, then it ends.
    "GET /console/alerts/stream": (lambda h, v: ("GET", "/console/alerts/stream", {"query_string": {"life": "0"}}),
                                   at_least("supervisor", 200, 200)),
    "GET /console/denials": (lambda h, v: ("GET", "/console/denials", {"query_string": {"venue": v}}),
                             at_least("guard", 200)),
    "GET /console/denials/<event_id>": (lambda h, v: ("GET", f"/console/denials/{h.denial[v]}", {}),
                                        at_least("guard", 200)),
    "POST /console/denials/<event_id>/review": (
        lambda h, v: ("POST", f"/console/denials/{h.denial[v]}/review", {"data": {"note": "checked"}}),
        at_least("supervisor", 302)),
    "GET /console/reports": (lambda h, v: ("GET", "/console/reports", {"query_string": {"venue": v}}),
                             at_least("supervisor", 200)),
    "POST /console/reports/<venue_id>/<day>/file": (lambda h, v: ("POST", f"/console/reports/{v}/{_day()}/file", {}),
                                                    at_least("supervisor", 302)),
    "GET /console/reports/<venue_id>/<day>.csv": (lambda h, v: ("GET", f"/console/reports/{v}/2030-01-01.csv", {}),
                                                  at_least("supervisor", 200)),
    "GET /console/reports/<venue_id>/<day>.pdf": (lambda h, v: ("GET", f"/console/reports/{v}/2030-01-01.pdf", {}),
                                                  at_least("supervisor", 200)),
    # Nothing filed that day: 404 once role and venue are let through (the withdrawal itself: test_console_reports).
    "POST /console/reports/<venue_id>/<day>/withdraw": (
        lambda h, v: ("POST", f"/console/reports/{v}/2030-01-01/withdraw", {}), at_least("admin", 404)),
    "GET /console/trace": (lambda h, v: ("GET", "/console/trace", {"query_string": {"event": h.denial[v]}}),
                           at_least("supervisor", 200)),
    "GET /console/trace.csv": (lambda h, v: ("GET", "/console/trace.csv", {"query_string": {"event": h.denial[v]}}),
                               at_least("supervisor", 200)),
    # Daily controls: without a schedule key (this hub has none) a change is 409 once role and venue pass;
    # an upload without a file 400.
    "GET /console/controls": (lambda h, v: ("GET", "/console/controls", {}), at_least("supervisor", 302, 302)),
    "GET /console/venues/<venue_id>/controls": (lambda h, v: ("GET", f"/console/venues/{v}/controls", {}),
                                                at_least("supervisor", 200)),
    "POST /console/venues/<venue_id>/controls": (
        lambda h, v: ("POST", f"/console/venues/{v}/controls", {"data": {"feverDeci": "37.5"}}), at_least("supervisor", 409)),
    "POST /console/venues/<venue_id>/controls/risk-areas": (
        lambda h, v: ("POST", f"/console/venues/{v}/controls/risk-areas", {}), at_least("supervisor", 400)),
    "POST /console/venues/<venue_id>/controls/bundle": (
        lambda h, v: ("POST", f"/console/venues/{v}/controls/bundle", {}), at_least("supervisor", 400)),
    "GET /console/venues/<venue_id>/previews/<preview_id>": (
        lambda h, v: ("GET", f"/console/venues/{v}/previews/{_preview(h, v)}", {}), at_least("supervisor", 200)),
    # A preview no gate was asked to replay (none online) is published at once.
    "POST /console/venues/<venue_id>/previews/<preview_id>/publish": (
        lambda h, v: ("POST", f"/console/venues/{v}/previews/{_preview(h, v)}/publish", {}), at_least("supervisor", 302)),
    "GET /console/roster": (lambda h, v: ("GET", "/console/roster", {"query_string": {"venue": v}}),
                            at_least("supervisor", 200)),
    # A preview stores nothing; a confirmation of no held upload is refused (409) once role and venue pass.
    "POST /console/roster/preview": (
        lambda h, v: ("POST", "/console/roster/preview", {"data": {"venue": v, "file": (io.BytesIO(ROSTER_CSV), "r.csv")}}),
        at_least("admin", 200)),
    "POST /console/roster/confirm": (
        lambda h, v: ("POST", "/console/roster/confirm", {"data": {"venue": v, "token": "none"}}), at_least("admin", 409)),
    # The visitors page lists the user's own venue's visits only (no venue is named to it).
    "GET /console/visitors": (lambda h, v: ("GET", "/console/visitors", {}), at_least("supervisor", 200, 200)),
    "POST /console/visitors": (
        lambda h, v: ("POST", "/console/visitors", {"data": {
            "venue": v, "name": "张*明", "subject": "ab" * 16, "host": "王老师", "purpose": "visit",
            "starts_at": "2030-01-01T09:00", "ends_at": "2030-01-01T10:00"}}), at_least("supervisor", 302)),
    # The ID number names the venue's enrolled courier: a visit request once role and venue are let through.
    "POST /console/denials/<event_id>/visit": (
        lambda h, v: ("POST", f"/console/denials/{h.denial[v]}/visit", {"data": {
            "id_number": ID_NUMBER, "host": "王老师", "purpose": "visit",
            "starts_at": "2030-01-01T09:00", "ends_at": "2030-01-01T10:00"}}), at_least("supervisor", 302)),
    "POST /console/holders/<venue>/<subject>/link": (
        lambda h, v: ("POST", f"/console/holders/{v}/{h.holder[v]}/link", {}), at_least("supervisor", 200)),
    "POST /console/holders/<venue>/<subject>/revoke": (
        lambda h, v: ("POST", f"/console/holders/{v}/{h.holder[v]}/revoke", {}), at_least("supervisor", 200)),
    "GET /console/status": (lambda h, v: ("GET", "/console/status", {}), at_least("supervisor", 200, 200)),
    # A header-only file: nothing to store, once role and venue are let through.
    "POST /console/status/import": (lambda h, v: ("POST", "/console/status/import", {"data": {
        "venue": v, "source": "authority", "file": (io.BytesIO(b"id,colour,since\r\n"), "feed.csv")}}),
        at_least("supervisor", 200)),
    "POST /console/status/find": (lambda h, v: ("POST", "/console/status/find", {"data": {
        "venue": v, "id_number": ID_NUMBER}}), at_least("supervisor", 302)),
    "GET /console/status/<venue>/<subject>": (lambda h, v: ("GET", f"/console/status/{v}/{h.holder[v]}", {}),
                                              at_least("supervisor", 200)),
    "POST /console/status/<venue>/<subject>/manual": (
        lambda h, v: ("POST", f"/console/status/{v}/{h.holder[v]}/manual", {"data": {"colour": "red", "reason": "test"}}),
        at_least("supervisor", 302)),
    "GET /console/goods": (lambda h, v: ("GET", "/console/goods", {"query_string": {"venue": v, "batch": "B1"}}),
                           at_least("supervisor", 200)),
    # ---- the holder's page: the link's secret is the only key, whoever holds it ------------------
    # (no console role opens or closes it; another venue's link opens that venue's person's page).
    "GET /h/<secret>": (lambda h, v: ("GET", f"/h/{_holder_link(h, v)}", {}), every(200)),
    "GET /h/<secret>/pass": (lambda h, v: ("GET", f"/h/{_holder_link(h, v)}/pass", {}), every(200)),
    "POST /h/<secret>/goods": (lambda h, v: ("POST", f"/h/{_holder_link(h, v)}/goods", {"json": {"goods": []}}),
                               every(200)),
    "GET /h/<secret>/divisions": (lambda h, v: ("GET", f"/h/{_holder_link(h, v)}/divisions", {}), every(200)),
    "POST /h/<secret>/declaration": (
        lambda h, v: ("POST", f"/h/{_holder_link(h, v)}/declaration", {"json": {"stays": []}}), every(200)),
    "GET /h/static/<path:filename>": (lambda h, v: ("GET", "/h/static/holder.js", {}), every(200)),
    "POST /console/visitors/<int:visit_id>/<any(approve, refuse):action>": (
        lambda h, v: ("POST", f"/console/visitors/{_visit(h, v)}/approve", {}), at_least("supervisor", 302)),
}


def _openapi_rule(path: str) -> str:
    """An OpenAPI path as the Flask rule that serves it ({venue_id} -> <venue_id>)."""
    return re.sub(r"\{(\w+)\}", r"<\1>", path)


class ScopedHub:
    """Two venues, a gate and a denial in each, and one user per role bound to OWN."""

    def __init__(self, hub_factory):
        settings = {"cap": 50, "slot_minutes": 30, "slot_capacity": 100_000}
        built = hub_factory(venues={OWN: settings, OTHER: settings}, gates={OWN: ["north"], OTHER: ["north"]},
                            testing=True)
        self.app, self.store = built.app, built.store
        for role in ROLES:
            self.store.create_user(role, PASSWORD, role)
            self.store.set_user_venue(role, OWN)
        self.denial = {}
        for venue in (OWN, OTHER):
            at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
            event = GateEvent(id=str(ULID.from_datetime(at)), kind="decision", venue=venue, gate="north", at=at,
                              direction="in", decision="deny", person_class="staff", name="张*明", celsius=36.5,
                              subject="cd" * 16, colour="red",
                              reasons=[RuleResult(rule="GATE-X", outcome="FAIL", message_zh="否", message_en="no")])
            self.store.ingest([event])
            self.denial[venue] = event.id
        # One enrolled courier in each venue, for the holder routes (the same ID number in both).
        self.holder = {}
        for venue in (OWN, OTHER):
            self.store.apply_roster(venue, [PersonRecord(self.store.id_hash(ID_NUMBER), "张*明", "courier")], by_user="admin")
            self.holder[venue] = self.store.person(venue, id_hash=self.store.id_hash(ID_NUMBER))["subject"]

    def console(self, user: str):
        """A test client signed in to the console as user."""
        client = self.app.test_client()
        data = {"username": user, "password": PASSWORD, "csrf_token": csrf(client)}
        assert client.post("/console/login", data=data).status_code == 302
        return client


def csrf(client) -> str:
    """The CSRF token of the client's session (from the login page's form)."""
    page = client.get("/console/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def basic(user: str) -> dict[str, str]:
    """HTTP Basic for a user."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def scoped(hub_factory) -> ScopedHub:
    return ScopedHub(hub_factory)


def test_the_table_names_every_route_the_app_serves_and_the_openapi_document_names(scoped: ScopedHub) -> None:
    served = {f"{m} {rule.rule}" for rule in scoped.app.url_map.iter_rules()
              for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {f"{m.upper()} {_openapi_rule(p)}"
                  for p, ops in json.loads(Path("protocols/openapi.json").read_text())["paths"].items() for m in ops}
    assert served - TABLE.keys() == set(), "routes missing from the venue-scope table"
    assert documented - TABLE.keys() == set(), "OpenAPI operations missing from the venue-scope table"
    assert TABLE.keys() - served == set(), "table rows for routes the app no longer serves"


@pytest.mark.slow
def test_every_route_answers_each_role_as_the_table_says_for_its_own_and_another_venue(scoped: ScopedHub) -> None:
    clients = {role: scoped.console(role) for role in ROLES}
    wrong = []
    for route, (make, expected) in TABLE.items():
        for role in ROLES:
            for venue, want in zip((OWN, OTHER), expected[role]):
                method, path, kwargs = make(scoped, venue)
                kwargs = dict(kwargs)
                fresh = kwargs.pop("fresh", False)
                client = scoped.console(role) if fresh else clients[role]
                if path.startswith("/console"):
                    if method == "POST":
                        kwargs["data"] = {**kwargs.get("data", {}), "csrf_token": csrf(client)}
                else:
                    kwargs["headers"] = basic(role)
                got = client.open(path, method=method, **kwargs).status_code
                if fresh:  # a logout ends every session of the user: sign the shared client in again
                    clients[role] = scoped.console(role)
                if got != want:
                    wrong.append(f"{route} as {role} for {venue}: {got}, expected {want}")
    assert wrong == []


def test_lists_are_narrowed_to_the_users_venue_and_personal_reads_are_audited(scoped: ScopedHub) -> None:
    client = scoped.app.test_client()
    venues = client.get("/api/v1/venues", headers=basic("supervisor")).get_json()
    assert [v["id"] for v in venues] == [OWN]
    events = client.get("/api/v1/events", headers=basic("supervisor")).get_json()  # no venue named: the user's own
    assert {e["venue"] for e in events} == {OWN}
    assert client.get("/api/v1/events", headers=basic("supervisor"),
                      query_string={"venue": OTHER}).status_code == 403
    assert client.patch(f"/api/v1/venues/{OTHER}", headers=basic("admin"), json={"cap": 1}).status_code == 403
    assert scoped.store.venue(OTHER)["cap"] == 50
    rows = scoped.store.audit_log(100)
    actions = [(r["username"], r["action"], r["venue"]) for r in rows]
    assert ("supervisor", "api.events", OWN) in actions
    assert ("supervisor", "api.out_of_scope", OTHER) in actions
    assert ("admin", "api.out_of_scope", OTHER) in actions


def test_the_audit_page_shows_a_bound_admin_only_its_venues_rows(scoped: ScopedHub) -> None:
    scoped.store.add_audit("someone", "denial.view", "marker-own", OWN)
    scoped.store.add_audit("someone", "denial.view", "marker-other", OTHER)
    scoped.store.add_audit("someone", "hub.wide", "marker-hub", None)
    page = scoped.console("admin").get("/console/audit").get_data(as_text=True)
    assert "marker-own" in page and "marker-other" not in page and "marker-hub" not in page
    scoped.store.create_user("root", PASSWORD, "admin")  # bound to no venue: every row
    everything = scoped.console("root").get("/console/audit").get_data(as_text=True)
    assert all(m in everything for m in ("marker-own", "marker-other", "marker-hub"))
