"""Thermometer integrity: the median of recent readings leaving its band raises GATE-THERM-01 and asks for a guard."""

from __future__ import annotations

import json

import pytest

from agent import messages
from agent.thermometer_drift import DriftWatch
from tests.agent_gate_helpers import gate_config, start_simulation
from tests.conftest import wait_until


def test_the_median_not_one_reading_decides_drift() -> None:
    watch = DriftWatch(window=5, low_c=35.5, high_c=37.5)
    assert [watch.add(c) for c in (36.5, 36.6, 36.4, 36.7, 36.5)] == [None] * 5
    # One cold forehead moves nothing; a sensor reading 2 degrees low does, once it is most of the window.
    assert watch.add(33.0) is None and not watch.drifted
    assert [watch.add(c) for c in (34.4, 34.5)] == [None, "drifted"] and watch.drifted
    assert watch.add(34.6) is None  # reported once, not at every reading
    assert [watch.add(c) for c in (36.5, 36.6, 36.5)] == [None, None, "recovered"] and not watch.drifted


def test_a_band_upside_down_is_a_config_error_naming_the_keys(tmp_path) -> None:
    with pytest.raises(Exception) as exc:
        gate_config(tmp_path, measure={"drift_low_c": 37.0, "drift_high_c": 36.0})
    assert "drift_low_c" in str(exc.value) and "Traceback" not in str(exc.value)


@pytest.mark.slow  # three people through a simulated gate
def test_a_drifting_thermometer_records_the_alarm_and_the_kiosk_asks_for_a_guard(tmp_path) -> None:
    sim = start_simulation(tmp_path, measure={"rest_s": 0.6, "wait_s": 2.0, "max_age_s": 1.0, "drift_window": 3})
    try:
        for _ in range(3):  # a sensor two degrees low: each reading alone is still plausible
            sim.present(sim.factory.person("green"), celsius=34.5)
        alarms = sim.gate.store.events(kind="alarm")
        assert [r.rule for a in alarms for r in a.reasons] == ["GATE-THERM-01"]
        assert "median 34.50" in alarms[0].note
        assert alarms[0].id in {i.event_id for i in sim.gate.store.outbox_pending()}  # on its way to the hub

        def guard_asked() -> bool:
            screens = [json.loads(line) for line in (tmp_path / "screens.jsonl").read_text().splitlines()]
            drift = dict(zip(("zh", "en"), messages.THERMOMETER_DRIFT))
            return any(drift in s["faults"] for s in screens if s["state"] == "idle")
        assert wait_until(guard_asked, 10, "the idle screen's drift fault")
    finally:
        sim.close()
