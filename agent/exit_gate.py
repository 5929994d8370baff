"""Exit gates: nobody is kept inside by a health rule; a code whose signature verifies only says who left."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocols.credential import Verification
from protocols.events import RuleResult

COLOURS = ("green", "yellow", "red")

# What an exit records: who left (PASS), or that the guard must open because the code could not be read (OPEN).
LEFT = RuleResult(rule="gate.exit", outcome="PASS", message_zh="再见", message_en="Goodbye")
UNREADABLE = RuleResult(rule="gate.exit_unreadable", outcome="OPEN",
                        message_zh="无法识别健康码，值班人员将为您开门",
                        message_en="The code cannot be read: the guard will open the gate")


@dataclass(frozen=True)
class Leaver:
    """Who is leaving, as the code's signed claims name them (the subject is hashed before it is stored)."""

    subject: str
    name: str | None
    person_class: str | None
    colour: str | None
    credential_format: str | None


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def identify_leaver(verification: Verification) -> Leaver | None:
    """The holder of a code whose signature verified, even if it expired or is an old screenshot; else None.

    Leaving needs no valid pass, only an identity for the record: an expired code still names
    its holder, a forged or unreadable one names nobody (the guard opens for that person).
    """
    cred = verification.credential
    if verification.ok and cred is not None:
        return Leaver(cred.subject, cred.name, cred.person_class, cred.colour, cred.format)
    steps = verification.steps
    claims = verification.claims or {}
    subject = _text(claims.get("sub"), 256)
    if steps.get("signature") is True and steps.get("key_usage") is True and subject:
        colour = claims.get("colour") if claims.get("colour") in COLOURS else None
        return Leaver(subject, _text(claims.get("name"), 64), _text(claims.get("class"), 16), colour,
                      verification.format)
    return None
