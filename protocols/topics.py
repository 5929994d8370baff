"""Every MQTT topic of the project, built and parsed here and nowhere else.

Layout: ``checkpoint/v1/{venue}/{gate}/{channel}``. A device's broker ACL allows it exactly
``checkpoint/v1/{venue}/{gate}/#``, so every channel a gate uses lives under its own gate.
Payload examples for each channel are in ``protocols/topics.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from protocols.errors import CheckpointError
from protocols.events import GateEvent

ROOT = "checkpoint/v1"
# Ids are safe topic segments: no "/", no MQTT wildcards, no "$", not empty.
SEGMENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class TopicError(CheckpointError):
    """A topic or a topic segment is not one of ours."""

    reason = "bad_topic"


class Channel(str, Enum):
    """What a message under a gate's topic is about."""

    STATUS = "status"  # gate -> all, retained, last-will "offline"
    EVENTS = "events"  # gate -> hub, QoS 1, one GateEvent JSON
    ACK = "ack"  # hub -> gate, QoS 1, ids the hub has stored
    NOTICE = "notice"  # hub -> gate, retained, versions the gate must fetch
    COMMAND = "command"  # hub -> gate, QoS 1, e.g. open the barrier
    REPLY = "reply"  # gate -> hub, QoS 1, the answer to one command (the "ack" channel carries event ids)
    THERMOMETER = "thermometer"  # thermometer -> gate, QoS 0, one reading


# Who may publish on each channel (the ACL file is written from this table).
DEVICE_PUBLISHES = (Channel.STATUS, Channel.EVENTS, Channel.THERMOMETER, Channel.REPLY)
DEVICE_SUBSCRIBES = (Channel.ACK, Channel.NOTICE, Channel.COMMAND, Channel.THERMOMETER, Channel.STATUS)
# Retained channels: a late subscriber still learns the last state.
RETAINED = (Channel.STATUS, Channel.NOTICE)
# Status payloads (plain text, like frigate's availability topic).
ONLINE, OFFLINE, STOPPED = "online", "offline", "stopped"


@dataclass(frozen=True)
class GateTopic:
    """A parsed topic: which venue, which gate, which channel."""

    venue: str
    gate: str
    channel: Channel

    def __str__(self) -> str:
        return gate_topic(self.venue, self.gate, self.channel)


SEGMENT_RULE = "1-64 characters of A-Z a-z 0-9 _ . -"


def check_segment(value: str, what: str = "id") -> str:
    """Return value if it is a valid topic segment (venue or gate id), else raise TopicError naming it."""
    # fullmatch: `$` alone also matches before a final newline, which the API's pattern refuses.
    if not isinstance(value, str) or not SEGMENT.fullmatch(value):
        raise TopicError(f"invalid {what} id {value!r}: use {SEGMENT_RULE}")
    return value


def gate_topic(venue: str, gate: str, channel: Channel | str) -> str:
    """Build ``checkpoint/v1/{venue}/{gate}/{channel}``."""
    ch = Channel(channel)
    return f"{ROOT}/{check_segment(venue, 'venue')}/{check_segment(gate, 'gate')}/{ch.value}"


def status(venue: str, gate: str) -> str:
    """The retained availability topic of a gate (online / offline / stopped)."""
    return gate_topic(venue, gate, Channel.STATUS)


def events(venue: str, gate: str) -> str:
    """The topic a gate publishes its events on (QoS 1)."""
    return gate_topic(venue, gate, Channel.EVENTS)


def ack(venue: str, gate: str) -> str:
    """The topic the hub acknowledges stored event ids on."""
    return gate_topic(venue, gate, Channel.ACK)


def notice(venue: str, gate: str) -> str:
    """The retained topic telling a gate which versions to fetch."""
    return gate_topic(venue, gate, Channel.NOTICE)


def command(venue: str, gate: str) -> str:
    """The topic the hub sends commands to a gate on."""
    return gate_topic(venue, gate, Channel.COMMAND)


def reply(venue: str, gate: str) -> str:
    """The topic a gate answers the hub's commands on."""
    return gate_topic(venue, gate, Channel.REPLY)


def thermometer(venue: str, gate: str) -> str:
    """The topic an MQTT thermometer at a gate publishes readings on."""
    return gate_topic(venue, gate, Channel.THERMOMETER)


def venue_alerts(venue: str) -> str:
    """The topic the hub publishes a venue's alerts on (QoS 1): ``checkpoint/v1/venue/{venue}/alerts``.

    Under ``venue/``, not under a gate: no device's ACL reaches it (a gate's is its own gate's topics)."""
    return f"{ROOT}/venue/{check_segment(venue, 'venue')}/alerts"


def gate_filter(venue: str, gate: str) -> str:
    """The filter covering every topic of one gate (what its ACL allows)."""
    return f"{ROOT}/{check_segment(venue, 'venue')}/{check_segment(gate, 'gate')}/#"


def all_gates(channel: Channel | str) -> str:
    """The filter the hub subscribes with to one channel of every gate of every venue."""
    return f"{ROOT}/+/+/{Channel(channel).value}"


# The shared-subscription group of the hub processes: with MQTT 5 `$share/hub/<filter>` the broker hands
# each message to one member of the group, so N hub bridges split the gates' events (each stored once).
HUB_GROUP = "hub"


def shared(topic_filter: str, group: str = HUB_GROUP) -> str:
    """The MQTT 5 shared subscription of a group to a filter: each message goes to one subscriber of the group."""
    return f"$share/{check_segment(group, 'group')}/{topic_filter}"


def parse(topic: str) -> GateTopic:
    """Parse a concrete topic into venue, gate and channel, or raise TopicError."""
    if not isinstance(topic, str) or not topic.startswith(ROOT + "/"):
        raise TopicError(f"not a checkpoint topic: {topic!r}")
    parts = topic[len(ROOT) + 1 :].split("/")
    if len(parts) != 3:
        raise TopicError(f"expected venue/gate/channel after {ROOT}/: {topic!r}")
    venue, gate, channel = parts
    try:
        ch = Channel(channel)
    except ValueError as exc:
        raise TopicError(f"unknown channel {channel!r} in {topic!r}") from exc
    return GateTopic(check_segment(venue, "venue"), check_segment(gate, "gate"), ch)


class AckMessage(BaseModel):
    """`ack`: the event ids the hub now holds."""

    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(max_length=10_000)


class NoticeMessage(BaseModel):
    """`notice` (retained): the version of each document the gate must run."""

    model_config = ConfigDict(extra="forbid")
    versions: dict[str, str] = Field(max_length=32)


# What the hub may ask of a gate: "open" opens the barrier once (with a reason), "reload" fetches and
# switches to the current documents, "guard_on"/"guard_off" refer everyone the rules admit to the
# guard (or stop doing so), "replay" replays the gate's own recorded decisions of the last day against a
# candidate bundle (carried in `bundle`) and answers with counts and the changed decisions; "sync" and
# "renew_lease" are older commands, answered alike.
COMMANDS = ("open", "reload", "guard_on", "guard_off", "replay", "sync", "renew_lease")
MAX_CHANGES = 200  # changed decisions one gate's replay answer lists (the counts cover them all)


class CommandMessage(BaseModel):
    """`command`: an instruction to a gate."""

    model_config = ConfigDict(extra="forbid")
    command: Literal["sync", "open", "renew_lease", "reload", "guard_on", "guard_off", "replay"]
    id: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=500, description="why (open: kept with the gate's event)")
    by: str | None = Field(default=None, max_length=64, description="the console user who asked")
    bundle: dict[str, Any] | None = Field(default=None, description="replay: the candidate signed bundle document")


class ReplayChange(BaseModel):
    """One recorded decision the candidate bundle decides otherwise: when, was, now, the rules that did not pass.
    No subject, no name, no event id: the inputs stay on the gate."""

    model_config = ConfigDict(extra="forbid")
    at: str = Field(max_length=40)
    was: Literal["admit", "deny", "refer"]
    now: Literal["admit", "deny", "refer"]
    rules: list[str] = Field(default_factory=list, max_length=64)


class ReplayResult(BaseModel):
    """A gate's replay of its last day against a candidate bundle."""

    model_config = ConfigDict(extra="forbid")
    bundle: str = Field(max_length=200, description="the candidate's version")
    since: str = Field(max_length=40)
    replayed: int = Field(ge=0)
    changed: int = Field(ge=0)
    skipped: int = Field(ge=0)
    changes: list[ReplayChange] = Field(default_factory=list, max_length=MAX_CHANGES)


class ReplyMessage(BaseModel):
    """`reply`: a gate's answer to one command (done or not, and what it did: its event id for an opening,
    the replay's figures for a replay)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    ok: bool
    detail: str = Field(default="", max_length=500)
    result: ReplayResult | None = None


class AlertMessage(BaseModel):
    """`venue/{venue}/alerts`: one alert the hub raised (server/alerts.py `message`)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    venue: str
    kind: str
    gate: str | None = None
    event_id: str | None = None
    at: str
    raised_at: str
    deadline: str | None = None
    detail: dict[str, object] = Field(default_factory=dict)
    title_zh: str
    title_en: str


# The JSON payload model of each channel (status is plain text: online / offline / stopped).
MESSAGES: dict[Channel, type[BaseModel]] = {
    Channel.EVENTS: GateEvent,
    Channel.ACK: AckMessage,
    Channel.NOTICE: NoticeMessage,
    Channel.COMMAND: CommandMessage,
    Channel.REPLY: ReplyMessage,
}
