"""The thermometers' wire formats: pure parsers and encoders, no I/O (see thermometer.md).

Two serial formats and one MQTT payload:

- ASCII lines, e.g. ``T=36.6\\r\\n``: one reading per line; a regex must match the whole line
  (without its line end) and its group ``celsius`` (or its first group) holds the value.
- The MLX90614 / CJMCU-IR serial module's 9-byte binary frame:
  ``66 66 mode len T1hi T1lo T2hi T2lo sum``; T1 is the object (the forehead), T2 the sensor's
  ambient temperature, each a signed big-endian 16-bit value in 1/100 C; ``sum`` is the low
  byte of the sum of the eight bytes before it.
- MQTT: a JSON object ``{"celsius": 36.6, "at": "2026-11-29T08:00:00Z"}`` or a bare number.

The stream decoders are incremental: feed them whatever bytes arrived, in any chunking, and
they return the readings completed so far. Garbage, dropped bytes and bad checksums are
counted and skipped (the decoder resynchronises on the next line or header); they never raise.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import struct
from dataclasses import dataclass

from protocols.errors import BadReading

DEFAULT_ASCII_PATTERN = r"T\s*[=:]\s*(?P<celsius>[-+]?\d{1,3}(?:\.\d{1,3})?)"
DEFAULT_ASCII_TEMPLATE = "T={celsius:.1f}\r\n"
MAX_LINE = 80  # longer "lines" are noise with no newline: dropped, so memory stays bounded

FRAME_HEADER = b"\x66\x66"
FRAME_DATA_LEN = 4
FRAME_SIZE = 2 + 1 + 1 + FRAME_DATA_LEN + 1
MODE_CONTINUOUS = 0x01
MAX_MQTT_PAYLOAD = 1024


@dataclass(frozen=True)
class WireReading:
    """One reading as decoded from the wire, before calibration."""

    celsius: float
    raw: bytes
    ambient_celsius: float | None = None


@dataclass
class DecoderStats:
    """What a stream decoder threw away, for logs and tests."""

    readings: int = 0
    garbage_bytes: int = 0
    rejected_lines: int = 0
    bad_checksums: int = 0


def parse_ascii_line(line: bytes | str, pattern: str | re.Pattern[str] = DEFAULT_ASCII_PATTERN) -> float | None:
    """The temperature in one ASCII line, or None when the line holds no valid reading."""
    text = line.decode("ascii", errors="replace") if isinstance(line, bytes) else line
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    # The whole line must match: noise inside a line, or a dropped digit ("T=36.\r\n"), makes
    # a line that must not pass for a reading, and this format has no checksum to catch it.
    match = regex.fullmatch(text.strip())
    if match is None:
        return None
    group = match.group("celsius") if "celsius" in regex.groupindex else match.group(1)
    try:
        value = float(group)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def encode_ascii_line(celsius: float, template: str = DEFAULT_ASCII_TEMPLATE) -> bytes:
    """One reading as an ASCII line, e.g. ``b"T=36.6\\r\\n"``."""
    return template.format(celsius=celsius).encode("ascii")


class AsciiLineDecoder:
    """Turns a byte stream of ASCII lines into readings, skipping lines that are not readings."""

    def __init__(self, pattern: str = DEFAULT_ASCII_PATTERN, max_line: int = MAX_LINE):
        self.regex = re.compile(pattern)
        self.max_line = max_line
        self.stats = DecoderStats()
        self._buf = bytearray()
        self._overlong = False  # inside a line already too long: drop up to the next newline

    def feed(self, data: bytes) -> list[WireReading]:
        """Add bytes; return the readings of every line they complete."""
        out: list[WireReading] = []
        self._buf.extend(data)
        while True:
            end = self._buf.find(b"\n")
            if end < 0:
                if len(self._buf) > self.max_line:
                    self.stats.garbage_bytes += len(self._buf)
                    self._buf.clear()
                    self._overlong = True
                return out
            line = bytes(self._buf[: end + 1])
            del self._buf[: end + 1]
            if self._overlong:
                self._overlong = False
                self.stats.garbage_bytes += len(line)
                continue
            value = parse_ascii_line(line, self.regex)
            if value is None:
                self.stats.rejected_lines += 1
                continue
            self.stats.readings += 1
            out.append(WireReading(value, line))


def _frame_checksum(first_eight: bytes) -> int:
    return sum(first_eight) & 0xFF


def encode_frame(celsius: float, ambient_celsius: float = 25.0, mode: int = MODE_CONTINUOUS) -> bytes:
    """One 9-byte binary frame; temperatures are rounded to 1/100 C."""
    body = FRAME_HEADER + bytes([mode & 0xFF, FRAME_DATA_LEN])
    body += struct.pack(">hh", round(celsius * 100), round(ambient_celsius * 100))
    return body + bytes([_frame_checksum(body)])


def parse_frame(frame: bytes) -> WireReading | None:
    """Decode exactly one 9-byte frame, or None if its header, length or checksum is wrong."""
    if len(frame) != FRAME_SIZE or frame[:2] != FRAME_HEADER or frame[3] != FRAME_DATA_LEN:
        return None
    if _frame_checksum(frame[:8]) != frame[8]:
        return None
    t_object, t_ambient = struct.unpack(">hh", frame[4:8])
    return WireReading(t_object / 100, bytes(frame), t_ambient / 100)


class BinaryFrameDecoder:
    """Turns a byte stream of 9-byte frames into readings, resynchronising on the header."""

    def __init__(self) -> None:
        self.stats = DecoderStats()
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[WireReading]:
        """Add bytes; return every valid frame they complete."""
        out: list[WireReading] = []
        self._buf.extend(data)
        while True:
            start = self._buf.find(FRAME_HEADER)
            if start < 0:
                # Keep a trailing 0x66: it may be the first half of the next header.
                keep = 1 if self._buf.endswith(FRAME_HEADER[:1]) else 0
                self.stats.garbage_bytes += len(self._buf) - keep
                del self._buf[: len(self._buf) - keep]
                return out
            if start:
                self.stats.garbage_bytes += start
                del self._buf[:start]
            if len(self._buf) < FRAME_SIZE:
                return out
            reading = parse_frame(bytes(self._buf[:FRAME_SIZE]))
            if reading is None:
                # A damaged frame (dropped byte, noise): skip one byte and look for the next header.
                self.stats.bad_checksums += 1
                self.stats.garbage_bytes += 1
                del self._buf[:1]
                continue
            del self._buf[:FRAME_SIZE]
            self.stats.readings += 1
            out.append(reading)


@dataclass(frozen=True)
class MqttReading:
    """A reading received over MQTT, with the device's own timestamp if it sent one."""

    celsius: float
    at: dt.datetime | None


def parse_mqtt_payload(payload: bytes) -> MqttReading:
    """Decode an MQTT thermometer payload; raise BadReading if it is not a reading."""
    if len(payload) > MAX_MQTT_PAYLOAD:
        raise BadReading(f"payload of {len(payload)} bytes is too large for a reading")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadReading(f"payload is neither JSON nor a number: {exc}") from exc
    at: dt.datetime | None = None
    if isinstance(doc, dict):
        value = doc.get("celsius")
        if doc.get("at") is not None:
            at = _parse_at(doc["at"])
    else:
        value = doc
    # bool is an int in Python: `true` is not 1 degree.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadReading(f"no finite numeric celsius in payload: {value!r}")
    return MqttReading(float(value), at)


def encode_mqtt_payload(celsius: float, at: dt.datetime | None = None) -> bytes:
    """A JSON payload for one reading (what the MQTT simulator publishes)."""
    doc: dict[str, object] = {"celsius": round(celsius, 2)}
    if at is not None:
        doc["at"] = at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return json.dumps(doc).encode()


def _parse_at(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise BadReading(f"'at' must be an ISO 8601 string, got {value!r}")
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadReading(f"'at' is not ISO 8601: {value!r}") from exc
    if at.tzinfo is None:
        raise BadReading(f"'at' has no time zone: {value!r}")
    return at
