"""What the gate decided for one presentation and what it shows: built once, recorded, then acted on."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent import messages
from hardware.display.base import Screen, ScreenState
from protocols.events import GateEvent, RuleResult, person_alert


def speech(screen: Screen) -> tuple[str, str]:
    """What to say aloud for a screen: the title, then every reason in its short form, in each language."""
    # Every reason, not the first only: a person refused for two things should not fix one and be refused again.
    said = screen.spoken or screen.reasons
    zh = screen.title_zh + ("。" + "；".join(z for z, _ in said) if said else "")
    en = screen.title_en + (". " + "; ".join(e for _, e in said) if said else "")
    return zh, en


def spoken_reasons(reasons: list[RuleResult], short: Mapping[str, tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The shown reasons as the voice says them: a failed rule's short form, else its message."""
    # A short form words a failure: an OPEN rule (not checked) says its own "未检查：缺少…" message instead.
    return tuple(short.get(r.rule, (r.message_zh or r.rule, r.message_en or r.rule)) if r.outcome == "FAIL"
                 else (r.message_zh or r.rule, r.message_en or r.rule) for r in shown_reasons(reasons))


def idle_screen(faults: tuple[tuple[str, str], ...] = ()) -> Screen:
    """"请出示健康码 · Please show your code", with any device faults underneath."""
    return Screen("idle", *messages.PROMPT, faults=faults)


def prompt_screen(state: ScreenState, text: tuple[str, str], countdown_s: float | None = None,
                  name: str | None = None) -> Screen:
    """A screen that asks the person to do something (measure, measure again, rest)."""
    # A reading can arrive a tick after the deadline: the countdown then shows zero, not less.
    countdown_s = None if countdown_s is None else max(0, countdown_s)
    return Screen(state, text[0], text[1], name=name, countdown_s=countdown_s)


def shown_reasons(reasons: list[RuleResult]) -> list[RuleResult]:
    """What the person is told: the failed rules; if none failed, the ones that could not be checked."""
    failed = [r for r in reasons if r.outcome == "FAIL"]
    return failed or [r for r in reasons if r.outcome == "OPEN"]


def raises_alert(event: GateEvent) -> bool:
    """True when the hub raises an alert for this event once it stores it (a red code, a positive test, a fever)."""
    failed = {r.rule for r in event.reasons if r.outcome == "FAIL"}
    return person_alert(event.kind, event.direction, event.colour, failed) is not None


def report_line(event: GateEvent, online: bool) -> tuple[str, str] | None:
    """What the kiosk says of the supervisors knowing, before the hub confirms: None if nothing is reported."""
    if not raises_alert(event):
        return None
    return messages.WILL_REPORT if online else messages.WILL_REPORT_OFFLINE


def result_screen(event: GateEvent, countdown_s: float, short: Mapping[str, tuple[str, str]] | None = None,
                  report: tuple[str, str] | None = None) -> Screen:
    """The green or red screen for a recorded decision, listing every failed rule (short: spoken forms by rule)."""
    if event.decision == "admit":
        title = {"manual": messages.MANUAL, "exit": messages.GOODBYE}.get(event.kind, messages.ADMIT)
        state: ScreenState = "admit"
    elif event.kind == "fever":
        title, state = messages.FEVER, "fever"
    elif event.decision == "deny" and {r.rule for r in shown_reasons(event.reasons)} == {messages.VENUE_FULL.rule}:
        # Refused only because the venue is full: nothing is wrong with the person, who may come back.
        title, state = messages.WAIT, "wait"
    elif event.decision == "refer":
        title, state = (messages.EXIT_REFER if event.direction == "out" else messages.REFER), "refer"
    else:
        title = messages.MANUAL_DENY if event.kind == "manual" else messages.DENY
        state = "deny"
    reasons = tuple((r.message_zh or r.rule, r.message_en or r.rule) for r in shown_reasons(event.reasons))
    return Screen(state, title[0], title[1], reasons=reasons, name=event.name, celsius=event.celsius,
                  countdown_s=countdown_s, event_id=event.id, spoken=spoken_reasons(event.reasons, short or {}),
                  report=report)


def remeasure_screen(event: GateEvent, rest_s: float, short: Mapping[str, tuple[str, str]] | None = None) -> Screen:
    """The amber screen after a first abnormal reading: rest, then measure again, with the reading and the rest."""
    reasons = tuple((r.message_zh or r.rule, r.message_en or r.rule) for r in shown_reasons(event.reasons))
    return Screen("remeasure", *messages.RETEST, reasons=reasons, name=event.name, celsius=event.celsius,
                  countdown_s=rest_s, event_id=event.id, spoken=spoken_reasons(event.reasons, short or {}))


@dataclass(frozen=True)
class Presented:
    """A verified presentation on its way to a decision: who, and when it started."""

    started: float  # monotonic
    subject: str | None  # keyed hash
    name: str | None  # masked
    person_class: str | None
    colour: str | None
    credential_format: str | None
    credential: Any  # protocols.credential.Credential, never stored
    wall: dt.datetime
    code_digest: bytes = b""  # the dedupe digest of the code, never the code itself
