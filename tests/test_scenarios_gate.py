"""The scenario table's second path: rows a running gate can be shown, decided by a simulated gate.

The gate decides on its own clock, so each row's times are moved by (now - the table's moment); rows
with stays (whole dates), boundaries to the second, an explicit moment, a roster, an appointment,
goods, another pack or a re-measure after a rest stay on the engine and `checkpoint decide` paths. Each row gets its own subject (anti-passback).
"""

from __future__ import annotations

import datetime as dt
import queue
import time
from typing import Any

import pytest

from agent.people import SIM_ISSUER, Person
from agent.simulation import SHOW_CODE_S
from protocols.clock import utc_now
from protocols.healthpass import mint
from protocols.healthpass_claims import HealthPassClaims
from protocols.rules import load_pack
from tests.agent_gate_helpers import start_simulation
from tests.conftest import wait_until
from tests.test_scenarios import AT, TABLE, claims_for, expected

GATE_CONTEXT = {"celsius", "mask"}


def on_a_gate(case: dict[str, Any]) -> bool:
    """Whether a simulated factory gate with its default parameters can be shown this row."""
    claims = claims_for(case)
    ctx = case["context"]
    if claims is None:
        return False
    # A boundary to the second (expiry, the code's age limit) is not a gate's: its clock moves while it decides.
    exact = abs(claims.expires_at - AT) < dt.timedelta(minutes=2) or AT - claims.issued_at == dt.timedelta(minutes=10)
    # The thermometer reports tenths: 37.25 is a rounding row for the engine, not a reading a device sends.
    if round(ctx.get("celsius", 36.5) or 0, 1) != (ctx.get("celsius", 36.5) or 0):
        return False
    return (case["pack"] == "factory-gate" and not case.get("params") and not claims.stays and not exact
            and set(ctx) <= GATE_CONTEXT and ctx.get("mask", True) is not None and ctx.get("celsius", 36.5) is not None)


ROWS = [c for c in TABLE["cases"] if on_a_gate(c)]
SHORT = {r.id: (r.short_zh, r.short_en) for r in load_pack("factory-gate").rules}


def moved(claims: HealthPassClaims, delta: dt.timedelta, subject: str) -> HealthPassClaims:
    """The same pass, every time moved by delta, for its own subject, from the simulation's issuer."""
    test = None if claims.test is None else claims.test.model_copy(update={"at": claims.test.at + delta})
    return claims.model_copy(update={
        "issuer": SIM_ISSUER, "subject": subject, "issued_at": claims.issued_at + delta,
        "expires_at": claims.expires_at + delta, "test": test,
        "colour_since": None if claims.colour_since is None else claims.colour_since + delta,
        "not_before": None if claims.not_before is None else claims.not_before + delta})


def test_the_gate_path_covers_the_new_rows():
    names = {c["name"] for c in ROWS}
    assert len(ROWS) >= 20
    assert any("positive test" in n for n in names) and any("re-measure (reading_low)" in n for n in names)


@pytest.mark.slow
def test_scenarios_through_a_running_gate(tmp_path):
    sim = start_simulation(tmp_path)
    kiosk = sim.gate.devices.displays[0]
    thermo = sim.gate.devices.thermometer_simulator
    speaker = sim.gate.devices.speaker
    failures = []
    try:
        for i, case in enumerate(ROWS):
            ctx = {**TABLE["context_defaults"], **case["context"]}
            claims = moved(claims_for(case), utc_now() - AT, f"scenario-{i}")
            person = Person("scenario", mint(claims, sim.factory.key), ctx["celsius"], mask=ctx["mask"])
            want = expected(case)
            if want[0] == "remeasure":
                # The gate must not decide on this reading: it asks for another, and a good one then decides.
                thermo.set_temperature(ctx["celsius"])
                time.sleep(0.2)
                sim._current = person
                sim.gate.devices.camera.present(person.code, SHOW_CODE_S)
                wait_until(lambda: kiosk.screen.state == "remeasure", what=f"the re-measure prompt for {case['name']}")
                shown = kiosk.screen
                undecided = sim.events.empty()
                thermo.set_temperature(36.5)
                event = sim.events.get(timeout=10)
                got = ("remeasure" if undecided and event.decision == "admit" else event.decision,
                       [], [f"gate.{k}" for k, v in (("reading_implausible", "无效"), ("reading_low", "偏低")) if v in shown.title_zh],
                       [])
            else:
                event = sim.present(person)
                assert event is not None, case["name"]
                fails = sorted(r.rule for r in event.reasons if r.outcome == "FAIL")
                opens = sorted(r.rule for r in event.reasons if r.outcome == "OPEN")
                got = (event.decision, fails, opens, want[3])  # flags are the engine's; the gate acts on them
                # The voice says every failing reason, each in its short form (zh, then en).
                said = speaker.said[-1]
                for rule in fails:
                    if not all(s in text for s, text in zip(SHORT[rule], said[1:])):
                        failures.append((case["name"], "voice", rule, said))
            if got != want:
                failures.append((case["name"], got, want))
            time.sleep(SHOW_CODE_S + 0.3)  # the next row is not this one's code again
            while not sim.events.empty():  # a late event (there should be none) must not shift the rows
                failures.append((case["name"], "extra event", sim.events.get_nowait().decision))
    except queue.Empty:
        failures.append(("timeout",))
    finally:
        sim.close()
    assert failures == []
