"""Honest lists (issue 12 item 6): a re-measure prompt is no denial, an OPEN rule says what was not
checked, every value a person sees is translated, every time is in the venue's zone."""

from __future__ import annotations

import datetime as dt

from tests.test_console_routes import Hub, gate_event, local


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
