"""The gate-hub HTTP contract, used by both sides: URL paths, document kinds and the bodies.

Like `protocols/topics.py` for MQTT: the hub's routes, the gate's sync client, the OpenAPI
generator and the benchmarks all take paths and kinds from here, never from string literals.
The hub answers with these models and the gate parses its answers into them; the OpenAPI
document's device schemas come from them too.
"""

from __future__ import annotations

import zlib
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from protocols.errors import CheckpointError
from protocols.events import LATEST_EVENT, PRESENCE_WINDOW_MAX, GateEvent

API_PREFIX = "/api/v1"


class DocumentKind(StrEnum):
    """The versioned documents a hub keeps per venue and a gate fetches, verifies and runs."""

    BUNDLE = "bundle"
    PARAMETERS = "parameters"
    RISK_AREAS = "risk_areas"
    TRUSTLIST = "trustlist"
    ROSTER = "roster"
    APPOINTMENTS = "appointments"
    SCHEDULE = "schedule"  # signed: reservations, meal groups, shifts (protocols/schedule.py)


DOCUMENT_KINDS: tuple[str, ...] = tuple(k.value for k in DocumentKind)

# Paths below API_PREFIX (Flask-style placeholders; `path()` fills them).
ENROLL = "/enroll"
DEVICE_SYNC = "/device/sync"
DEVICE_LEASE = "/device/lease"
DEVICE_DOCUMENT = "/device/documents/<kind>"


def path(route: str, **values: str) -> str:
    """The full URL path of a contract route with its placeholders filled: path(DEVICE_DOCUMENT, kind="bundle")."""
    full = API_PREFIX + route
    for name, value in values.items():
        full = full.replace(f"<{name}>", value)
    return full


# Events in one sync request: a backlog drains in batches of thousands (the hub's fixed cost of a call
# shared out); past this the hub answers 413 batch_too_large and the gate halves its batch.
MAX_BATCH = 5000

# A sync POST may be compressed (Content-Encoding); the hub inflates it to at most MAX_INFLATED bytes, so a
# small body that inflates to gigabytes (a zip bomb) costs it that much and no more, and is answered 413.
BODY_ENCODINGS = ("gzip",)
MAX_INFLATED = 16 * 1024 * 1024  # the hub's MAX_CONTENT_LENGTH for an uncompressed body


class BodyTooLarge(CheckpointError):
    """A request body inflates beyond the hub's limit."""

    reason = "body_too_large"


class BadEncoding(CheckpointError):
    """A request body's Content-Encoding is not one the contract names."""

    reason = "bad_encoding"


class MalformedBody(BadEncoding):
    """A request body's data does not decode as its Content-Encoding says (not gzip, truncated, data after the end)."""

    reason = "malformed_body"


def compress_body(data: bytes, encoding: str) -> bytes:
    """A request body in one of BODY_ENCODINGS (gzip level 1: the gate's CPU matters more than the bytes)."""
    if encoding != "gzip":
        raise BadEncoding(f"no such body encoding: {encoding!r} (known: {', '.join(BODY_ENCODINGS)})")
    # wbits 31: a gzip stream, as Content-Encoding: gzip means.
    squeeze = zlib.compressobj(1, zlib.DEFLATED, 31)
    return squeeze.compress(data) + squeeze.flush()


def inflate_body(data: bytes, encoding: str | None, limit: int = MAX_INFLATED) -> bytes:
    """A body as it was before its Content-Encoding; BodyTooLarge past `limit` bytes, BadEncoding for an encoding
    the contract does not name, MalformedBody for data that does not decode."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        if len(data) > limit:
            raise BodyTooLarge(f"body of {len(data):,} bytes, more than {limit:,}")
        return data
    if encoding not in BODY_ENCODINGS:
        raise BadEncoding(f"Content-Encoding {encoding[:40]!r} is not one of {', '.join(BODY_ENCODINGS)}")
    inflate = zlib.decompressobj(31)
    try:
        # max_length: never more than limit + 1 bytes in memory, however small the body is.
        out = inflate.decompress(data, limit + 1)
    except zlib.error as exc:
        raise MalformedBody(f"not a gzip stream: {exc}") from exc
    if len(out) > limit:
        raise BodyTooLarge(f"body inflates to more than {limit:,} bytes")
    if not inflate.eof or inflate.unused_data:
        raise MalformedBody("a truncated gzip stream, or data after its end")
    return out
PRESENCE_PAGE = 1000  # presence changes in one sync answer; a gate further behind gets the rest next time



# A time in an answer as the hub stores it (ISO 8601 UTC, microseconds, Z), kept as that text rather
# than parsed to a datetime, and checked by a pattern rather than a Python validator: a sync answer
# carries up to 1,000 of them, and parsing each on the hub only to format it back doubled the cost of
# a sync. The gate parses each once, when it stores it.
WireTime = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"),
                     WithJsonSchema({"format": "date-time", "type": "string"})]


class Body(BaseModel):
    """A request or response body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class EnrollRequest(Body):
    """A device spends its one-time token."""

    token: str = Field(min_length=8, max_length=200)


class EnrollResponse(Body):
    """The device's own credential: shown once, the hub keeps only hashes."""

    device_id: str
    secret: str
    venue: str
    gate: str
    mqtt_username: str
    topic_filter: str


class GateFigures(Body):
    """What a gate measures of itself, sent with every sync (the console's overview and fleet pages show it)."""

    people_per_min: float = Field(ge=0, le=10_000, description="decisions in the last minute")
    decision_p95_ms: float | None = Field(default=None, ge=0, le=3_600_000,
                                          description="p95 of the last decisions' scan-to-answer time")
    outbox: int = Field(ge=0, le=2**62, description="events not yet acknowledged by the hub")
    clock_offset_s: float | None = Field(
        default=None, ge=-1e9, le=1e9, description="the gate's wall clock minus the hub's time (None: never anchored)")
    thermometer_median_c: float | None = Field(default=None, ge=0, le=100,
                                               description="median of the last readings (drift watch)")
    guard_mode: bool = Field(default=False, description="the hub's guard mode is on: rules admits are referred")


class SyncRequest(Body):
    """A batch from a gate's outbox, the document versions the gate runs and its own figures."""

    events: list[GateEvent] = Field(default_factory=list, max_length=MAX_BATCH)
    running: dict[str, str] | None = Field(default=None, max_length=16)
    figures: GateFigures | None = Field(default=None, description="absent from gates older than the figures")
    presence_after: int | None = Field(
        default=None, ge=0, le=2**62,
        description="the presence cursor of the last answer (0 the first time); absent: no presence changes wanted")
    presence_window_s: int = Field(default=3600, ge=0, le=int(PRESENCE_WINDOW_MAX.total_seconds()),
                                   description="the gate's anti-passback window: older changes are not sent")


class PresenceChange(Body):
    """An admitted entry or an exit at another gate of the venue (subject: the venue's keyed hash)."""

    subject: str
    direction: Literal["in", "out"]
    at: WireTime


class RefusedEvent(Body):
    """An event of the batch the hub will not store: the gate logs it and takes it off its outbox (it keeps its own record)."""

    id: str
    reason: str = Field(description="a stable reason code, e.g. wrong_direction")
    message: str = Field(description="中文 / English")


class SyncResponse(Body):
    """Ids the hub now holds (the gate may forget them), how many were new, what to fetch next;
    with `presence_after` asked, the venue's presence changes at other gates since that cursor."""

    acked: list[str]
    new: int
    versions: dict[str, str]
    # Only the kinds above: a name such as "../../x.sh" makes the whole answer invalid, never a file.
    fetch: list[DocumentKind] = Field(max_length=len(DocumentKind))
    presence: list[PresenceChange] | None = Field(default=None, max_length=PRESENCE_PAGE)
    presence_after: int | None = Field(default=None, description="the cursor to send next time")
    presence_more: bool | None = Field(default=None, description="true: more changes wait, ask again at once")
    conflicts: list[str] | None = Field(default=None, max_length=MAX_BATCH,
                                        description="ids the hub already held with other content: the first is kept")
    alerted: list[str] | None = Field(default=None, max_length=MAX_BATCH,
                                      description="ids of the batch that raised an alert the hub holds (absent: none)")
    refused: list[RefusedEvent] | None = Field(default=None, max_length=MAX_BATCH,
                                               description="events not stored, each with its reason (absent: none)")
    # A float, not text: one clock read on the hub's hot path, no formatting; absent from hubs before it.
    hub_time: float | None = Field(default=None, ge=0, le=LATEST_EVENT.timestamp(),
                                   description="the hub's clock when it answered, UTC seconds since 1970 (ms)")


class LeaseRequest(Body):
    """Renew (want > 0) or return (want = 0) a gate's lease of places."""

    want: int = Field(ge=0, le=10_000)
    unsynced: int = Field(default=0, ge=0, le=100_000, description="admissions not yet acknowledged by the hub")


class LeaseResponse(Body):
    """How many more the gate may admit without asking, and what the hub holds for it."""

    grant: int
    held: int
    cap: int | None
    inside: int


def wire(body: BaseModel) -> dict[str, Any]:
    """A body as sent: its JSON form without the fields left unset (an answer's optional parts not asked for)."""
    return body.model_dump(mode="json", exclude_unset=True)


def wire_json(body: BaseModel) -> bytes:
    """The same body as JSON bytes, serialised by pydantic-core (no dict in between)."""
    # warnings off: an answer the hub builds with model_construct holds its rows as dicts, which
    # pydantic-core writes as they are (the same JSON) but would warn about once per row.
    return body.model_dump_json(exclude_unset=True, warnings=False).encode()
