"""Honest lists (issue 12 item 6): a re-measure prompt is no denial, an OPEN rule says what was not
checked, every value a person sees is translated, every time is in the venue's zone."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest

from protocols.display import DISPLAY
from protocols.events import RuleResult
from tests.test_console_routes import Hub, gate_event, local


@pytest.mark.slow  # a hub with signed-in users (password hashing) or the agent's CLI: over 1 s
def test_a_remeasure_prompt_is_not_listed_or_counted_as_a_denial(hub_factory):
    hub = Hub(hub_factory)
    day = dt.date(2026, 3, 2)
    prompt = gate_event("school1", "north", local(day, 9), decision="deny", kind="remeasure",
                        failed=("GATE-TEMP-01",), celsius=38.2)
    fever = gate_event("school1", "north", local(day, 9, 5), decision="deny", kind="fever",
                       failed=("GATE-TEMP-01", "GATE-TEMP-02"), celsius=38.0)
    hub.store.ingest([prompt, fever])
    assert [r["id"] for r in hub.store.denials(venue="school1")] == [fever.id]  # one fever, one denial
    page = hub.client("li").get("/console/denials?venue=school1").get_data(as_text=True)
    assert fever.id in page and prompt.id not in page
    report = hub.client("li").get(f"/console/reports?venue=school1&day={day}").get_data(as_text=True)
    from server.reports import build_report
    from zoneinfo import ZoneInfo
    counted = build_report(hub.store, hub.store.venue("school1"), day, ZoneInfo("Asia/Shanghai"))
    assert (counted.denied, counted.remeasures, len(counted.fevers)) == (1, 1, 1)
    assert "复测提示" in report and "Re-measure prompts" in report


def test_an_open_rule_says_what_was_not_checked_not_the_failure_message():
    from protocols.bundle import build_bundle, parse_risk_areas
    from protocols.decision import GateContext, evaluate
    from protocols.rules import load_pack
    from tests.test_rules import AT, _credential

    bundle = build_bundle(load_pack("factory-gate"), {}, parse_risk_areas({"regions": [], "provinces": []}))
    never_measured = GateContext(at=AT, celsius=None, mask=True, inside=False)
    result = evaluate(bundle, _credential(person_class="staff", subject="S-staff-1"), never_measured)
    temp = next(r for r in result.reasons if r.rule == "GATE-TEMP-01")
    assert temp.outcome == "OPEN"
    assert (temp.message_zh, temp.message_en) == ("未检查：缺少体温读数", "not checked: missing temperature reading")
    assert "37.3" not in temp.message_zh  # the failure text is for a reading that failed, not for none


class _ZhText(HTMLParser):
    """A page's visible text outside the English beside it (span.en) and outside <select> (checked apart)."""

    def __init__(self) -> None:
        super().__init__()
        self.skip: list[str] = []  # the open tags being skipped, by name
        self.parts: list[str] = []
        self.options: list[str] = []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if self.skip and tag == self.skip[-1]:
            self.skip.append(tag)  # a nested tag of the same name inside a skipped one
        elif not self.skip and (tag == "select" or (tag == "span" and "en" in classes)):
            self.skip.append(tag)
        self._option = tag == "option"

    def handle_endtag(self, tag):
        if self.skip and tag == self.skip[-1]:
            self.skip.pop()

    def handle_data(self, data):
        if getattr(self, "_option", False):
            self.options.append(data.strip())
        if not self.skip:
            self.parts.append(data)


def zh_text(page: str) -> tuple[str, list[str]]:
    """The Chinese-first text of a page, and its options' texts."""
    parser = _ZhText()
    parser.feed(page)
    return " ".join(parser.parts), parser.options


@pytest.mark.slow  # a hub with signed-in users (password hashing) or the agent's CLI: over 1 s
def test_every_value_a_person_sees_is_translated_zh_first(hub_factory):
    hub = Hub(hub_factory)
    day = dt.date(2026, 3, 3)
    events = []
    minute = 0
    for person_class in DISPLAY["person_class"]:
        for colour in DISPLAY["colour"]:
            minute += 1
            events.append(gate_event("school1", "north", local(day, 8, minute), decision="deny", failed=("GATE-COLOUR-01",),
                                     person_class=person_class).model_copy(update={"colour": colour}))
    for i, reason in enumerate(DISPLAY["reason"]):
        events.append(gate_event("school1", "south", local(day, 10, i), decision="deny", failed=("GATE-CODE-01",))
                      .model_copy(update={"note": f"code: {reason}"}))
    opened = gate_event("school1", "north", local(day, 11), decision="refer")
    opened.reasons = [RuleResult(rule="GATE-TEMP-01", outcome="OPEN", message_zh="体温37.3℃或以上", message_en="37.3 °C or above")]
    events += [opened, gate_event("school1", "north", local(day, 11, 1), decision="deny", kind="fever", failed=("GATE-TEMP-02",))]
    hub.store.ingest(events)
    for action in DISPLAY["audit"]:
        hub.store.add_audit("admin", action, "-", "school1")
    client = hub.client("admin")
    pages = {"/console/": client.get("/console/").get_data(as_text=True),
             "/console/audit": client.get("/console/audit").get_data(as_text=True),
             "/console/venues": client.get("/console/venues").get_data(as_text=True)}
    for page_no in (1, 2):
        pages[f"denials {page_no}"] = client.get(f"/console/denials?venue=school1&page={page_no}").get_data(as_text=True)
    for e in events:
        pages[e.id] = client.get(f"/console/denials/{e.id}").get_data(as_text=True)
        assert "拒绝详情" in pages[e.id], e.id
    raw = set(DISPLAY["person_class"]) | set(DISPLAY["colour"]) | set(DISPLAY["outcome"]) | set(DISPLAY["decision"]) \
        | set(DISPLAY["reason"]) | set(DISPLAY["audit"]) | {"code:", "decision", "fever", "exit", "in", "out", "school", "offline"}
    word = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(raw, key=len, reverse=True))) + r")(?![\w-])")
    for where, page in pages.items():
        text, options = zh_text(page)
        assert not word.findall(text), f"{where}: raw values {sorted(set(word.findall(text)))} in {text[:300]!r}"
        for option in options:
            assert not word.match(option), f"{where}: an option shows the raw value first: {option!r}"
    detail = zh_text(pages[opened.id])[0]
    assert "未检查" in detail and "37.3" not in detail  # an OPEN rule is not shown as failed
    expired = next(e for e in events if e.note == "code: expired")
    assert "健康码：已过期" in zh_text(pages[expired.id])[0]


@pytest.mark.slow  # a hub with signed-in users (password hashing) or the agent's CLI: over 1 s
def test_gate_lines_print_the_venues_zone_not_the_machines(monkeypatch, capsys):
    import time
    from zoneinfo import ZoneInfo

    from agent.cli import _event_printer

    monkeypatch.setenv("TZ", "UTC")  # a Raspberry Pi image's zone
    time.tzset()
    try:
        at = dt.datetime(2026, 3, 2, 1, 2, 3, tzinfo=dt.timezone.utc)
        _event_printer(ZoneInfo("Asia/Shanghai"))(gate_event("school1", "north", at))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert capsys.readouterr().out.startswith("09:02:03 ")  # as the console shows it, not 01:02:03


def test_a_gate_config_with_an_unknown_zone_is_refused_naming_the_key(tmp_path):
    from agent.config import AgentConfig
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        AgentConfig.model_validate({"gate": {"venue": "v", "gate": "g", "timezone": "Mars/Olympus"}})
    assert AgentConfig.model_validate({"gate": {"venue": "v", "gate": "g"}}).gate.timezone == "Asia/Shanghai"


@pytest.mark.slow  # a hub with signed-in users (password hashing) or the agent's CLI: over 1 s
def test_every_time_shown_or_exported_is_in_the_venues_own_zone(hub_factory):
    from tests.test_console_routes import token

    hub = Hub(hub_factory)
    admin = hub.client("admin")
    csrf = token(admin, "/console/venues")
    bad = admin.post("/console/venues/factory1", data={"csrf_token": csrf, "timezone": "Mars/Olympus"})
    assert bad.status_code == 400 and "未知时区" in bad.get_data(as_text=True) and "timezone" in bad.get_data(as_text=True)
    assert hub.store.venue("factory1")["timezone"] is None  # a bad value saves nothing
    saved = admin.post("/console/venues/factory1", data={"csrf_token": csrf, "timezone": "Europe/Berlin"})
    assert saved.status_code == 302 and hub.store.venue("factory1")["timezone"] == "Europe/Berlin"
    at = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
    berlin = gate_event("factory1", "north", at, decision="deny", failed=("GATE-COLOUR-01",))
    shanghai = gate_event("school1", "north", at + dt.timedelta(seconds=1), decision="deny", failed=("GATE-COLOUR-01",))
    hub.store.ingest([berlin, shanghai])
    listed = admin.get("/console/denials").get_data(as_text=True)
    assert "2026-03-02 09:00:00" in listed and "2026-03-02 16:00:01" in listed  # each row in its venue's zone
    assert "2026-03-02 09:00:00" in admin.get(f"/console/denials/{berlin.id}").get_data(as_text=True)
    since = admin.get("/console/denials?venue=factory1&since=2026-03-02T08:30").get_data(as_text=True)
    assert berlin.id in since  # 08:30 Berlin is 07:30Z, before the event (in Shanghai's zone it was after)
    import base64

    from tests.test_console_routes import PASSWORD

    basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    csv = hub.app.test_client().get("/api/v1/events?format=csv", headers={"Authorization": f"Basic {basic}"})
    text = csv.get_data(as_text=True)
    assert csv.status_code == 200 and "2026-03-02 09:00:00 +0100" in text and "2026-03-02 16:00:01 +0800" in text
    assert "拒绝 denied" in text and "绿码 green code" in text  # exported values translated too


@pytest.mark.slow  # a hub with signed-in users (password hashing) or the agent's CLI: over 1 s
def test_the_api_takes_the_console_session_for_the_links_it_shows_and_a_token_for_changes(hub_factory):
    from tests.test_venue_scope import OTHER, OWN, ScopedHub, csrf

    scoped = ScopedHub(hub_factory)
    supervisor = scoped.console("supervisor")
    overview = supervisor.get("/console/").get_data(as_text=True)
    links = [f"/api/v1/venues/{OWN}/occupancy", f"/api/v1/events?venue={OWN}&amp;format=csv"]
    assert all(link in overview for link in links)
    for link in links:
        answer = supervisor.get(link.replace("&amp;", "&"))
        assert answer.status_code == 200, (link, answer.get_data(as_text=True))  # was 401 to a signed-in person
    assert supervisor.get(f"/api/v1/venues/{OTHER}/occupancy").status_code == 403  # the same scope as Basic
    assert scoped.app.test_client().get(f"/api/v1/venues/{OWN}/occupancy").status_code == 401  # no session: none
    reclaim = f"/api/v1/venues/{OWN}/gates/north/lease/reclaim"
    forged = supervisor.post(reclaim)  # what another site's form could make a signed-in browser send
    assert forged.status_code == 403 and forged.get_json()["error"]["reason"] == "csrf"
    assert supervisor.post(reclaim, headers={"X-CSRF-Token": csrf(supervisor)}).status_code == 409  # let through
    guard = scoped.console("guard")
    assert guard.get(f"/api/v1/events?venue={OWN}").status_code == 403  # roles hold for a session too
    supervisor.post("/console/logout", data={"csrf_token": csrf(supervisor)})
    assert supervisor.get(f"/api/v1/venues/{OWN}/occupancy").status_code == 401  # signed out: the cookie is worth nothing


@pytest.mark.slow  # a hub with signed-in users (password hashing) or the agent's CLI: over 1 s
def test_the_hubs_address_leads_to_the_console_and_a_fresh_hub_says_how_to_add_a_venue(hub_factory):
    from tests.test_console_routes import PASSWORD, token

    built = hub_factory(venues={}, gates={}, testing=True)
    client = built.app.test_client()
    front = client.get("/")
    assert front.status_code == 302 and front.headers["Location"].endswith("/console/")
    built.store.create_user("root", PASSWORD, "admin")
    client.post("/console/login", data={"username": "root", "password": PASSWORD, "csrf_token": token(client)})
    page = client.get("/console/").get_data(as_text=True)
    assert "checkpoint hub add-venue --venue" in page and "POST /api/v1/venues" in page and "还没有场所" in page


def test_the_voice_says_what_was_not_checked_not_the_rules_failure_short_form():
    from agent.outcome import spoken_reasons

    opened = RuleResult(rule="GATE-TEMP-01", outcome="OPEN", message_zh="未检查：缺少体温读数",
                        message_en="not checked: missing temperature reading")
    short = {"GATE-TEMP-01": ("体温偏高", "temperature high")}
    assert spoken_reasons([opened], short) == (("未检查：缺少体温读数", "not checked: missing temperature reading"),)
    failed = opened.model_copy(update={"outcome": "FAIL"})
    assert spoken_reasons([failed], short) == (("体温偏高", "temperature high"),)
