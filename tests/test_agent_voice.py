"""What the gate says aloud: the title, then every reason in its short form (zh, then en)."""

from __future__ import annotations

import datetime as dt

from agent.decider import Decider
from agent.outcome import result_screen, speech
from protocols.events import GateEvent, RuleResult, new_event_id


def event(*rules: str) -> GateEvent:
    """A denial that failed these rules, with the pack's long messages."""
    reasons = [RuleResult(rule=r, outcome="FAIL", message_zh=f"{r} 的长提示", message_en=f"long message of {r}") for r in rules]
    return GateEvent(id=new_event_id(), kind="decision", venue="v", gate="g", at=dt.datetime.now(dt.timezone.utc),
                     direction="in", decision="deny", reasons=reasons)


def test_every_failing_reason_is_said_in_its_short_form():
    decider = Decider.from_pack("factory")
    short = decider.short_forms(dt.datetime.now(dt.timezone.utc))
    zh, en = speech(result_screen(event("GATE-COLOUR-01", "GATE-TEMP-01", "GATE-MASK-01"), 5.0, short))
    assert zh.endswith("。红码；体温异常，请复测；请戴口罩"), zh
    assert en.endswith(". red code; high temperature, measure again; wear a mask"), en
    assert "长提示" not in zh and "long message" not in en


def test_a_reason_without_a_short_form_is_said_in_full():
    zh, en = speech(result_screen(event("gate.no_reading"), 5.0, {}))
    assert zh.endswith("gate.no_reading 的长提示") and en.endswith("long message of gate.no_reading")
