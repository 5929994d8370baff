"""The supervisors' console through Flask's test client on a real SQLite file: login and roles,
CSRF, audit, denial filters, reviews, visitors and the appointments document, daily reports."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from ulid import ULID

from agent.venue_documents import parse_appointments, pick_appointment
from protocols.certlogic import evaluate
from protocols.events import GateEvent, RuleResult

TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "pass-word-1"
EVENT_LINK = re.compile(r"/console/denials/([0-9A-Z]{26})\"")


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """An aware time on a local day."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ)


def gate_event(venue: str, gate: str, at: dt.datetime, *, decision: str = "admit", kind: str = "decision",
               direction: str = "in", failed: tuple[str, ...] = (), person_class: str = "staff",
               name: str = "张*明", celsius: float = 36.5, subject: str = "ab" * 16) -> GateEvent:
    """A gate event as an agent would sync it."""
    return GateEvent(
        id=str(ULID.from_datetime(at.astimezone(dt.timezone.utc))), kind=kind, venue=venue, gate=gate, at=at,
        direction=direction, decision=decision, person_class=person_class, name=name, celsius=celsius,
        subject=subject, colour="green",
        reasons=[RuleResult(rule=r, outcome="FAIL", message_zh=f"{r} 未通过", message_en=f"{r} failed") for r in failed])


class Hub:
    """The console's hub: two venues with two gates each and one user per role, on the shared hub factory."""

    def __init__(self, hub_factory, serve: bool = False):
        built = hub_factory(venues={"school1": {"name": "第一小学", "cap": 100}, "factory1": {"name": "一号工厂", "cap": 50}},
                            gates={"school1": ["north", "south"], "factory1": ["north", "south"]}, serve=serve,
                            testing=True)
        self.db, self.app, self.store, self.url = built.db, built.app, built.store, built.url
        self.store.set_venue_console("school1", "school", None, None)
        for user, role, venue in (("admin", "admin", None), ("li", "supervisor", "school1"),
                                  ("wang", "guard", "school1")):
            self.store.create_user(user, PASSWORD, role)
            self.store.set_user_venue(user, venue)

    def client(self, user: str | None = None):
        """A test client, signed in as user when given."""
        client = self.app.test_client()
        if user:
            answer = client.post("/console/login", data={"username": user, "password": PASSWORD,
                                                          "csrf_token": token(client)})
            assert answer.status_code == 302, answer.get_data(as_text=True)
        return client

    def audit(self) -> list[dict]:
        """Every audit row, newest first."""
        return self.store.audit_log(1000)


def token(client, path: str = "/console/login") -> str:
    """The CSRF token in a page's forms."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def hub(hub_factory) -> Hub:
    return Hub(hub_factory)


def ids(page: str) -> set[str]:
    """The event ids linked from a page."""
    return set(EVENT_LINK.findall(page))


# ---- login, roles, CSRF, audit ---------------------------------------------------------------

def test_pages_redirect_to_login_until_signed_in(hub: Hub) -> None:
    client = hub.client()
    for path in ("/console/", "/console/denials", "/console/visitors", "/console/reports", "/console/audit"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/console/login" in answer.headers["Location"]
    assert "登录" in client.get("/console/login").get_data(as_text=True)


def test_a_wrong_password_is_refused_and_audited(hub: Hub) -> None:
    client = hub.client()
    answer = client.post("/console/login", data={"username": "li", "password": "nope", "csrf_token": token(client)})
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.get_data(as_text=True)
    assert client.get("/console/").status_code == 302
    assert hub.audit()[0]["action"] == "login.failed"


def test_a_user_name_is_locked_after_five_failed_logins(hub: Hub) -> None:
    client = hub.client()
    for _ in range(5):
        data = {"username": "li", "password": "guess", "csrf_token": token(client)}
        assert client.post("/console/login", data=data).status_code == 401
    data = {"username": "li", "password": PASSWORD, "csrf_token": token(client)}
    assert client.post("/console/login", data=data).status_code == 429  # even the right password, for now
    hub.client("wang")  # other user names are not affected


def test_posts_without_the_csrf_token_are_refused(hub: Hub) -> None:
    client = hub.client()
    client.get("/console/login")
    assert client.post("/console/login", data={"username": "li", "password": PASSWORD}).status_code == 400
    client = hub.client("li")
    day = dt.date.today() - dt.timedelta(days=2)
    for data in ({}, {"csrf_token": "forged"}):
        answer = client.post(f"/console/reports/school1/{day}/file", data=data)
        assert answer.status_code == 400 and "CSRF" in answer.get_data(as_text=True)
    assert hub.store.filed_reports() == []
    other = hub.app.test_client()  # a token from another session does not do either
    assert other.post("/console/login", data={"username": "li", "password": PASSWORD,
                                              "csrf_token": token(client, "/console/")}).status_code == 400


@pytest.mark.slow
def test_roles_decide_what_each_user_may_open(hub: Hub) -> None:
    guard, supervisor, admin = hub.client("wang"), hub.client("li"), hub.client("admin")
    assert guard.get("/console/denials").status_code == 200
    assert guard.get("/console/").status_code == 200
    for path in ("/console/visitors", "/console/reports", "/console/audit", "/console/venues"):
        assert guard.get(path).status_code == 403, path
    assert supervisor.get("/console/visitors").status_code == 200
    assert supervisor.get("/console/reports").status_code == 200
    assert supervisor.get("/console/audit").status_code == 403
    assert admin.get("/console/audit").status_code == 200
    assert admin.get("/console/venues").status_code == 200
    # Bound to school1: another venue's denials are out of scope; the overview shows only school1.
    assert guard.get("/console/denials?venue=factory1").status_code == 403
    page = guard.get("/console/").get_data(as_text=True)
    assert "第一小学" in page and "一号工厂" not in page
    assert "一号工厂" in admin.get("/console/").get_data(as_text=True)


@pytest.mark.slow
def test_logout_ends_the_session(hub: Hub) -> None:
    client = hub.client("li")
    assert client.post("/console/logout", data={"csrf_token": token(client, "/console/")}).status_code == 302
    assert client.get("/console/").status_code == 302


# ---- denials ---------------------------------------------------------------------------------

def test_denial_filters_select_exactly_the_matching_events(hub: Hub) -> None:
    today = dt.datetime.now(TZ).date()
    day = today - dt.timedelta(days=1)
    events = {
        "temp": gate_event("school1", "north", local(day, 8), decision="deny", failed=("GATE-TEMP-01",)),
        "code": gate_event("school1", "south", local(day, 9), decision="deny", failed=("GATE-CODE-01", "GATE-TEMP-01"),
                           person_class="visitor", name="王*华"),
        "refer": gate_event("school1", "north", local(day, 10), decision="refer", failed=("GATE-MASK-01",)),
        "old": gate_event("school1", "north", local(day - dt.timedelta(days=3), 8), decision="deny",
                          failed=("GATE-TEMP-01",)),
        "admit": gate_event("school1", "north", local(day, 11)),
        "factory": gate_event("factory1", "north", local(day, 8), decision="deny", failed=("GATE-TEMP-01",)),
    }
    hub.store.ingest(list(events.values()))
    e = {k: v.id for k, v in events.items()}
    admin = hub.client("admin")

    def found(query: str) -> set[str]:
        answer = admin.get("/console/denials?" + query)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return ids(answer.get_data(as_text=True))

    assert found("") == {e["temp"], e["code"], e["refer"], e["old"], e["factory"]}
    assert found("venue=school1") == {e["temp"], e["code"], e["refer"], e["old"]}
    assert found("venue=school1&rule=GATE-TEMP-01") == {e["temp"], e["code"], e["old"]}
    assert found("venue=school1&rule=GATE-TEMP") == set()  # a rule id, not a prefix
    assert found("venue=school1&gate=south") == {e["code"]}
    assert found("venue=school1&decision=refer") == {e["refer"]}
    assert found("person_class=visitor") == {e["code"]}
    assert found("name=王") == {e["code"]}
    assert found(f"venue=school1&since={day}T00:00&until={day}T09:30") == {e["temp"], e["code"]}
    page = admin.get("/console/denials?venue=school1&gate=south").get_data(as_text=True)
    assert "GATE-CODE-01 未通过" in page and "GATE-CODE-01 failed" in page  # rule ids with both messages
    # Newest first.
    page = admin.get("/console/denials?venue=school1").get_data(as_text=True)
    assert page.index(e["refer"]) < page.index(e["code"]) < page.index(e["temp"]) < page.index(e["old"])
    assert admin.get("/console/denials?since=yesterday").status_code == 400
    assert admin.get("/console/denials?decision=admit").status_code == 400
    # A guard bound to school1 sees only school1 without asking.
    assert ids(hub.client("wang").get("/console/denials").get_data(as_text=True)) == {
        e["temp"], e["code"], e["refer"], e["old"]}


def test_denials_are_paginated_fifty_a_page(hub: Hub) -> None:
    start = dt.datetime.now(TZ) - dt.timedelta(hours=3)
    hub.store.ingest([gate_event("school1", "north", start + dt.timedelta(seconds=i), decision="deny",
                                 failed=("GATE-TEMP-01",)) for i in range(55)])
    client = hub.client("li")
    first = client.get("/console/denials").get_data(as_text=True)
    second = client.get("/console/denials?page=2").get_data(as_text=True)
    assert len(ids(first)) == 50 and len(ids(second)) == 5 and not ids(first) & ids(second)
    assert "page=2" in first and "page=3" not in second


def test_viewing_and_reviewing_a_denial_is_audited(hub: Hub) -> None:
    denial = gate_event("school1", "north", dt.datetime.now(TZ) - dt.timedelta(minutes=5), decision="deny",
                        failed=("GATE-TEMP-01",), celsius=38.1)
    hub.store.ingest([denial])
    guard = hub.client("wang")
    page = guard.get(f"/console/denials/{denial.id}").get_data(as_text=True)
    assert "38.1" in page and "张*明" in page and "标记为已复核" not in page  # a guard cannot review
    assert guard.post(f"/console/denials/{denial.id}/review",
                      data={"note": "x", "csrf_token": token(guard, "/console/")}).status_code == 403
    supervisor = hub.client("li")
    csrf = token(supervisor, f"/console/denials/{denial.id}")
    assert supervisor.post(f"/console/denials/{denial.id}/review", data={"note": "", "csrf_token": csrf}).status_code == 400
    answer = supervisor.post(f"/console/denials/{denial.id}/review", data={"note": "复测正常，已放行", "csrf_token": csrf})
    assert answer.status_code == 302
    page = supervisor.get(f"/console/denials/{denial.id}").get_data(as_text=True)
    assert "复测正常，已放行" in page and "li" in page
    actions = [(a["username"], a["action"], a["target"]) for a in hub.audit()]
    assert ("wang", "denial.view", denial.id) in actions
    assert ("li", "denial.review", denial.id) in actions
    assert hub.client("admin").get("/console/audit").get_data(as_text=True).count("denial.view") == 3  # wang once, li twice
    assert hub.client("admin").get("/console/denials/" + "0" * 26).status_code == 404
    # Another venue's denial is out of a bound user's scope, to read and to review.
    elsewhere = gate_event("factory1", "north", dt.datetime.now(TZ), decision="deny", failed=("GATE-TEMP-01",))
    hub.store.ingest([elsewhere])
    assert guard.get(f"/console/denials/{elsewhere.id}").status_code == 403
    assert supervisor.post(f"/console/denials/{elsewhere.id}/review", data={"note": "x", "csrf_token": csrf}).status_code == 403
    assert hub.store.event_detail(elsewhere.id)["reviewer"] is None


# ---- visitors and the appointments document --------------------------------------------------

VISIT_RULE = next(r for r in json.loads(Path("protocols/policies/school-gate.json").read_text(encoding="utf-8"))["rules"]
                  if r["id"] == "GATE-VISIT-01")


def rule_passes(appointment: dict | None, subject: str, at: dt.datetime) -> bool:
    """GATE-VISIT-01 (from the school pack) for a visitor holding `subject` at `at`."""
    data = {"payload": {"class": "visitor", "sub": subject},
            "external": {"appointment": appointment,
                         "validationClock": at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}}
    return evaluate(VISIT_RULE["logic"], data) is True


def create_visit(client, subject: str, starts: dt.datetime, ends: dt.datetime, venue: str = "school1"):
    """Post the visit form."""
    return client.post("/console/visitors", data={
        "venue": venue, "name": "王*华", "subject": subject, "host": "赵老师", "purpose": "家长会",
        "starts_at": starts.strftime("%Y-%m-%dT%H:%M"), "ends_at": ends.strftime("%Y-%m-%dT%H:%M"),
        "csrf_token": token(client, "/console/visitors")})


def test_approving_a_visitor_publishes_the_appointments_the_visit_rule_reads(hub: Hub) -> None:
    client = hub.client("li")
    starts = dt.datetime.now(TZ).replace(second=0, microsecond=0) + dt.timedelta(hours=1)
    ends = starts + dt.timedelta(hours=2)
    assert create_visit(client, "V-PASS-0001", starts, ends).status_code == 302
    assert create_visit(client, "V-PASS-0002", starts, ends).status_code == 302
    assert create_visit(client, "V-PASS-0003", ends, starts).status_code == 400  # ends before it starts
    assert create_visit(client, "V-PASS-0004", starts, ends, venue="factory1").status_code == 403
    other = hub.store.create_visit("factory1", "陈*", "V-F-1", "x", "y", "2026-01-01T00:00:00.000000Z",
                                   "2026-01-01T01:00:00.000000Z", "admin")
    assert client.post(f"/console/visitors/{other}/approve",
                       data={"csrf_token": token(client, "/console/visitors")}).status_code == 403
    assert "V-F-1" not in client.get("/console/visitors").get_data(as_text=True)
    visits = {v["subject"]: v for v in hub.store.visits("school1")}
    assert hub.store.document("school1", "appointments") is None  # nothing approved yet
    csrf = token(client, "/console/visitors")
    assert client.post(f"/console/visitors/{visits['V-PASS-0001']['id']}/approve", data={"csrf_token": csrf}).status_code == 302
    assert client.post(f"/console/visitors/{visits['V-PASS-0002']['id']}/refuse", data={"csrf_token": csrf}).status_code == 302
    assert client.post(f"/console/visitors/{visits['V-PASS-0002']['id']}/approve", data={"csrf_token": csrf}).status_code == 409
    document = hub.store.document("school1", "appointments")
    assert document["content_type"] == "application/json"
    appointments = json.loads(document["body"])
    assert [a["subject"] for a in appointments] == ["V-PASS-0001"]
    appointment = appointments[0]
    assert appointment["approvedBy"] == "li" and appointment["name"] == "王*华"
    assert appointment["from"] == starts.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert appointment["to"] == ends.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # What a gate decides with it: admitted in the window, refused before it, and for another pass.
    assert rule_passes(appointment, "V-PASS-0001", starts + dt.timedelta(minutes=30))
    assert not rule_passes(appointment, "V-PASS-0001", starts - dt.timedelta(minutes=30))
    assert not rule_passes(appointment, "V-PASS-0002", starts + dt.timedelta(minutes=30))
    # The gate's own reader accepts the document and picks the holder's appointment from it.
    parsed = parse_appointments(document["body"])
    assert pick_appointment(parsed, "V-PASS-0001", starts) == appointment
    # Published through the distribution: the venue's current versions include it.
    assert hub.store.versions("school1")["appointments"] == str(document["version"])
    page = client.get("/console/visitors").get_data(as_text=True)
    assert "已批准" in page and "已拒绝" in page
    assert {"visit.create", "visit.approve", "visit.refuse", "visitors.list"} <= {a["action"] for a in hub.audit()}
