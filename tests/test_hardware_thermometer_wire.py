"""The thermometer wire formats: byte-level examples, round trips, and hostile input (hypothesis)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import BadReading
from protocols.thermometer_wire import (
    FRAME_SIZE,
    AsciiLineDecoder,
    BinaryFrameDecoder,
    encode_ascii_line,
    encode_frame,
    encode_mqtt_payload,
    parse_ascii_line,
    parse_frame,
    parse_mqtt_payload,
)

# Any temperature a signed 16-bit count of 1/100 C can hold.
centi = st.integers(min_value=-32768, max_value=32767)


def test_binary_frame_matches_the_documented_example():
    frame = encode_frame(36.6, 24.5)
    assert frame == bytes.fromhex("66 66 01 04 0E 4C 09 92 C6")
    reading = parse_frame(frame)
    assert reading is not None and reading.celsius == 36.6 and reading.ambient_celsius == 24.5


def test_binary_frame_with_negative_ambient_matches_the_documented_example():
    frame = bytes.fromhex("66 66 01 04 0B B8 FE 0C 9E")
    assert encode_frame(30.0, -5.0) == frame
    assert parse_frame(frame).ambient_celsius == -5.0


def test_binary_frame_with_a_wrong_checksum_is_refused():
    frame = bytearray(encode_frame(36.6))
    frame[8] ^= 0x01
    assert parse_frame(bytes(frame)) is None


def test_binary_decoder_resynchronises_after_garbage_and_a_dropped_byte():
    good = encode_frame(36.6)
    damaged = good[:5] + good[6:]  # one byte lost on the line
    stream = b"\x00\xff\x66garbage" + damaged + good + b"\x12\x66" + good
    decoder = BinaryFrameDecoder()
    readings = decoder.feed(stream)
    assert [r.celsius for r in readings] == [36.6, 36.6]
    assert decoder.stats.bad_checksums >= 1 and decoder.stats.garbage_bytes > 0


def test_ascii_line_examples():
    assert encode_ascii_line(36.6) == b"T=36.6\r\n"
    assert parse_ascii_line(b"T=36.6\r\n") == 36.6
    assert parse_ascii_line(b"T: 37.25") == 37.25
    assert parse_ascii_line(b"T=36.\r\n") is None  # a dropped digit is not a reading
    assert parse_ascii_line(b"\x93T=36.6\r\n") is None  # noise inside the line
    assert parse_ascii_line(b"hello") is None


def test_ascii_decoder_with_a_custom_pattern():
    decoder = AsciiLineDecoder(r"Obj:\s*(?P<celsius>\d+\.\d+)\s*C Amb:\s*\d+\.\d+\s*C")
    readings = decoder.feed(b"Obj: 36.70 C Amb: 24.10 C\r\nboot ok\r\nObj: 36.8")
    assert [r.celsius for r in readings] == [36.7]
    assert decoder.stats.rejected_lines == 1
    assert [r.celsius for r in decoder.feed(b"0 C Amb: 24.10 C\n")] == [36.8]


def test_ascii_decoder_drops_an_endless_line_and_recovers():
    decoder = AsciiLineDecoder()
    assert decoder.feed(b"x" * 10_000) == []
    assert decoder.feed(b"still the same line\nT=36.9\n")[0].celsius == 36.9


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=17))
def test_random_bytes_never_crash_the_stream_decoders(data, chunk):
    for decoder in (AsciiLineDecoder(), BinaryFrameDecoder()):
        for i in range(0, len(data), chunk):
            for reading in decoder.feed(data[i : i + chunk]):
                assert isinstance(reading.celsius, float)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(centi, centi), min_size=1, max_size=20), st.integers(min_value=1, max_value=FRAME_SIZE * 3))
def test_binary_frames_round_trip_in_any_chunking(values, chunk):
    stream = b"".join(encode_frame(t / 100, a / 100) for t, a in values)
    decoder = BinaryFrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += decoder.feed(stream[i : i + chunk])
    assert [(round(r.celsius * 100), round(r.ambient_celsius * 100)) for r in got] == values
    assert decoder.stats.garbage_bytes == 0


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-999, max_value=9999), min_size=1, max_size=20),
       st.lists(st.binary(max_size=8).filter(lambda b: b"\n" not in b and b"T" not in b), min_size=1, max_size=5))
def test_ascii_lines_round_trip_between_noise_lines(tenths, noise):
    stream = b"".join(n + b"\r\n" + encode_ascii_line(t / 10) for t, n in zip(tenths, noise * len(tenths)))
    got = AsciiLineDecoder().feed(stream)
    assert [round(r.celsius * 10) for r in got] == tenths


def test_mqtt_payload_forms():
    at = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.timezone.utc)
    assert parse_mqtt_payload(encode_mqtt_payload(36.6, at)).at == at
    assert parse_mqtt_payload(b'{"celsius": 36.6, "at": "2026-11-29T08:00:00Z"}').celsius == 36.6
    assert parse_mqtt_payload(b"36.6").celsius == 36.6
    assert parse_mqtt_payload(b"37").celsius == 37.0


@pytest.mark.parametrize("payload", [
    b"", b"hot", b"true", b"NaN", b"Infinity", b"[36.6]", b'{"celsius": "36.6"}', b'{"celsius": true}',
    b'{"temp": 36.6}', b'{"celsius": 36.6, "at": "yesterday"}', b'{"celsius": 36.6, "at": "2026-11-29T08:00:00"}',
    b'{"celsius": 36.6, "at": 1764403200}', b"\xff\xfe", b"1" * 2000,
])
def test_mqtt_payloads_that_are_not_readings_raise_bad_reading(payload):
    with pytest.raises(BadReading) as err:
        parse_mqtt_payload(payload)
    assert err.value.reason == "bad_reading"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=100).map(str.encode),
                 st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.floats(), st.text(max_size=30)),
                                 max_size=3).map(lambda d: __import__("json").dumps(d).encode())))
def test_random_mqtt_payloads_give_a_reading_or_bad_reading(payload):
    try:
        reading = parse_mqtt_payload(payload)
    except BadReading:
        return
    assert reading.celsius == reading.celsius  # finite, not NaN
