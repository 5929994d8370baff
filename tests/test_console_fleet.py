"""The live overview and the fleet (issue 12): today's charts from the events, the gates' own figures
from their syncs, and commands to a gate (audited, refused for another venue, bad input answered)."""

from __future__ import annotations

import datetime as dt
import re

from protocols.contract import GateFigures, SyncRequest
from server.console.overview_live import day_hours, today_series
from server.store_commands import COMMAND_TIMEOUT_S, command_state
from tests.test_console_routes import TZ, Hub, gate_event, hub, local, token  # noqa: F401 (fixture)


def _bars(page: str) -> dict[str, int]:
    """The decisions chart's bars: series -> summed values."""
    out: dict[str, int] = {}
    for series, value in re.findall(r'class="bar" data-series="(\w+)" data-value="(\d+)"', page):
        out[series] = out.get(series, 0) + int(value)
    return out


def test_today_series_counts_decisions_per_local_hour_and_occupancy(hub: Hub) -> None:
    today = dt.datetime.now(TZ).date()
    hub.store.ingest([gate_event("school1", "north", local(today, 0, 10), subject="a1" * 16),
                      gate_event("school1", "north", local(today, 0, 20), subject="a2" * 16),
                      gate_event("school1", "south", local(today, 0, 30), decision="deny", failed=("GATE-TEMP-01",)),
                      gate_event("school1", "south", local(today, 0, 40), decision="refer", subject="a3" * 16),
                      # Another day and another venue count nowhere here.
                      gate_event("school1", "north", local(today - dt.timedelta(days=1), 0, 10), subject="a4" * 16),
                      gate_event("factory1", "north", local(today, 0, 15), subject="a5" * 16)])
    now = local(today, 23, 59)
    series = today_series(hub.store, hub.store.venue("school1"), today, TZ, now.astimezone(dt.timezone.utc))
    assert len(series["labels"]) == 24 and series["labels"][0] == "00" and series["labels"][13] == "13"
    assert series["outcomes"]["admit"][0] == 2 and series["outcomes"]["deny"][0] == 1
    assert series["outcomes"]["refer"][0] == 1 and sum(series["outcomes"]["admit"]) == 2
    # Yesterday's entry was inside before the day began: 1 + today's 2 admitted entries.
    assert series["occupancy"][0] == 3 and series["occupancy"][-1] == 3


def test_hours_still_to_come_have_no_occupancy_and_a_dst_day_has_its_own_hours(hub: Hub) -> None:
    from zoneinfo import ZoneInfo

    today = dt.datetime.now(TZ).date()
    series = today_series(hub.store, hub.store.venue("school1"), today, TZ, local(today, 9, 30))
    assert series["occupancy"][9] is not None and series["occupancy"][10] is None
    assert len(day_hours(dt.date(2026, 3, 8), ZoneInfo("America/New_York"))) == 23  # spring forward


def test_overview_draws_the_charts_and_its_live_fragment_serves_them_alone(hub: Hub) -> None:
    now = dt.datetime.now(TZ)
    hub.store.ingest([gate_event("school1", "north", now - dt.timedelta(minutes=1), subject="b1" * 16),
                      gate_event("school1", "south", now - dt.timedelta(minutes=1), decision="deny",
                                 failed=("GATE-CODE-01",))])
    client = hub.client("li")
    page = client.get("/console/").get_data(as_text=True)
    assert page.count('<svg class="chart"') == 2 and "live.js" in page
    assert 'data-live="/console/overview/live?venue=school1"' in page
    assert _bars(page) == {"admit": 1, "deny": 1}
    fragment = client.get("/console/overview/live?venue=school1")
    assert fragment.status_code == 200
    text = fragment.get_data(as_text=True)
    assert "<html" not in text and _bars(text) == {"admit": 1, "deny": 1} and 'class="level"' in text
    # Live: a new event shows at the next fetch, without reloading the page.
    hub.store.ingest([gate_event("school1", "north", now, subject="b2" * 16)])
    assert _bars(client.get("/console/overview/live?venue=school1").get_data(as_text=True))["admit"] == 2
    assert client.get("/console/static/live.js").status_code == 200


def test_the_live_fragment_refuses_another_venue_and_an_unknown_one(hub: Hub) -> None:
    client = hub.client("li")  # bound to school1
    assert client.get("/console/overview/live?venue=factory1").status_code == 403
    assert hub.audit()[0]["action"] == "console.out_of_scope"
    admin = hub.client("admin")
    assert admin.get("/console/overview/live?venue=nowhere").status_code == 404
    assert admin.get("/console/overview/live").status_code == 404


def test_a_gate_sync_carries_its_figures_to_the_fleet_and_overview_pages(hub_factory) -> None:
    built = Hub(hub_factory)
    device, secret = built.store.redeem_token(built.store.create_enroll_token("school1", "north"))
    client = built.app.test_client()
    figures = GateFigures(people_per_min=12, decision_p95_ms=412.5, outbox=3, clock_offset_s=-75.2,
                          thermometer_median_c=36.4)
    body = SyncRequest(events=[], running={}, figures=figures).model_dump_json()
    answer = client.post("/api/v1/device/sync", data=body, headers={"Authorization": f"Bearer {secret}",
                                                                     "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert built.store.gate_figures("school1")["north"]["decision_p95_ms"] == 412.5
    page = built.client("li").get("/console/fleet").get_data(as_text=True)
    row = page[page.index('data-gate="north"'):page.index('data-gate="south"')]
    assert "412 ms" in row and "-75.2 s" in row and "36.4 °C" in row and ">3<" in row and ">12<" in row
    assert 'class="deny">-75.2 s' in row  # more than a minute off: marked
    overview = built.client("li").get("/console/").get_data(as_text=True)
    assert "412 ms" in overview
    # Bad figures are refused with the contract's answer, and the kept figures stay.
    bad = body.replace('"outbox":3', '"outbox":-1')
    answer = client.post("/api/v1/device/sync", data=bad, headers={"Authorization": f"Bearer {secret}",
                                                                    "Content-Type": "application/json"})
    assert answer.status_code in (400, 422)
    assert built.store.gate_figures("school1")["north"]["outbox"] == 3


def _post(client, path: str, data: dict) -> object:
    return client.post(path, data={**data, "csrf_token": token(client, "/console/fleet")})


def test_a_command_is_queued_audited_and_shown_waiting_then_timed_out(hub: Hub) -> None:
    client = hub.client("li")
    answer = _post(client, "/console/venues/school1/gates/north/command", {"command": "open", "reason": "送货 delivery"})
    assert answer.status_code == 302
    command_id = answer.headers["Location"].rsplit("/", 1)[1]
    row = hub.store.command(command_id)
    assert (row["venue"], row["gate"], row["command"], row["reason"], row["requested_by"]) == \
        ("school1", "north", "open", "送货 delivery", "li")
    audit = hub.audit()[0]
    assert audit["action"] == "gate.command" and command_id in audit["target"] and audit["venue"] == "school1"
    assert [c["id"] for c in hub.store.unsent_commands()] == [command_id]
    page = client.get(f"/console/commands/{command_id}").get_data(as_text=True)
    assert 'data-state="waiting"' in page and 'http-equiv="refresh"' in page
    asked = dt.datetime.fromisoformat(row["requested_at"].replace("Z", "+00:00"))
    assert command_state(row, asked + dt.timedelta(seconds=COMMAND_TIMEOUT_S + 1)) == "timeout"
    # The gate's answer: only from the gate it was sent to, once.
    assert not hub.store.answer_command("school1", "south", command_id, True, "x")
    assert hub.store.answer_command("school1", "north", command_id, True, "01EVENT")
    assert not hub.store.answer_command("school1", "north", command_id, False, "again")
    assert client.get(f"/console/commands/{command_id}.json").get_json()["state"] == "ok"


def test_commands_to_another_venue_are_refused_and_bad_ones_answered(hub: Hub) -> None:
    client = hub.client("li")  # a supervisor of school1
    answer = _post(client, "/console/venues/factory1/gates/north/command", {"command": "open", "reason": "x"})
    assert answer.status_code == 403
    assert hub.audit()[0]["action"] == "console.out_of_scope"
    assert hub.store.commands(venue="factory1") == []
    for data, status in (({"command": "explode"}, 400), ({"command": "open"}, 400),
                         ({"command": "open", "reason": "x" * 201}, 400)):
        assert _post(client, "/console/venues/school1/gates/north/command", data).status_code == status, data
    assert _post(client, "/console/venues/school1/gates/nowhere/command", {"command": "reload"}).status_code == 404
    guard = hub.client("wang")
    assert _post(guard, "/console/venues/school1/gates/north/command", {"command": "reload"}).status_code == 403
    assert hub.store.commands(venue="school1") == []
    # Another venue's command page is refused too.
    other = hub.store.create_command("factory1", "north", "reload", "admin")
    assert client.get(f"/console/commands/{other}").status_code == 403


def test_open_once_from_a_denial_keeps_the_reason_beside_it(hub: Hub) -> None:
    denial = gate_event("school1", "south", dt.datetime.now(TZ), decision="deny", failed=("GATE-TEMP-01",))
    hub.store.ingest([denial])
    client = hub.client("li")
    page = client.get(f"/console/denials/{denial.id}").get_data(as_text=True)
    assert 'id="open-once"' in page and 'name="event_id"' in page
    answer = _post(client, "/console/venues/school1/gates/south/command",
                   {"command": "open", "reason": "复测正常 re-measured fine", "event_id": denial.id})
    assert answer.status_code == 302
    page = client.get(f"/console/denials/{denial.id}").get_data(as_text=True)
    assert "复测正常 re-measured fine" in page and "等待闸机确认" in page
    # The denial must be this gate's: another gate's command cannot borrow it.
    answer = _post(client, "/console/venues/school1/gates/north/command",
                   {"command": "open", "reason": "x", "event_id": denial.id})
    assert answer.status_code == 400
