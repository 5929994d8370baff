"""The claims of an `HP1:` health pass and their CBOR form (see protocols/healthpass.md).

CBOR coming off a QR code is hostile: every key and type is checked here by hand against the
spec before any value is believed, and every failure is a BadClaims with the key path.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from protocols.clock import utc_seconds
from protocols.credential import Colour, Goods, NucleicAcidTest, PersonClass, Stay, VisitWindow, goods_json
from protocols.errors import BadClaims

# CWT claim keys (RFC 8392) and our private claim: a negative key in the private-use range.
ISS, SUB, EXP, NBF, IAT = 1, 2, 4, 5, 6
HP = -65537
# Keys inside the private claim map.
HP_NAME, HP_CLASS, HP_COLOUR, HP_COLOUR_SINCE, HP_TEST, HP_DOSES, HP_STAYS = 1, 2, 3, 4, 5, 6, 7
# Optional keys added later (gates before them refuse such passes as bad_claims, see healthpass.md).
HP_GROUP, HP_WINDOW, HP_GOODS = 8, 9, 10
HP_KEYS = {HP_NAME, HP_CLASS, HP_COLOUR, HP_COLOUR_SINCE, HP_TEST, HP_DOSES, HP_STAYS, HP_GROUP, HP_WINDOW, HP_GOODS}
TEST_AT, TEST_RESULT = 1, 2
WINDOW_START, WINDOW_END = 1, 2
# Keys of one goods map, in the order of the Goods model's fields.
GOODS_KEYS = {1: "product", 2: "supplier", 3: "origin", 4: "quantity", 5: "batch", 6: "maker", 7: "cold_chain", 8: "report"}
GOODS_TEXT = {"product": 64, "supplier": 64, "origin": 64, "quantity": 32, "batch": 64, "maker": 64, "report": 64}
MAX_GOODS = 16

MAX_TEXT = 64
MAX_NAME = 32
MAX_STAYS = 64
MAX_DOSES = 20
# NumericDates past this (year 2999) are nonsense and would overflow datetime on some systems.
MAX_TIME = 32503680000
COLOURS = get_args(Colour)
CLASSES = get_args(PersonClass)
TEST_RESULTS = ("negative", "positive")
# ASCII digits only: \d would also accept other scripts' digits.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_REGION = re.compile(r"[0-9]{6}")


class HealthPassClaims(BaseModel):
    """What an `HP1:` pass says about its holder, in Python types."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    issuer: str = Field(min_length=1, max_length=MAX_TEXT)
    subject: str = Field(min_length=1, max_length=MAX_TEXT)
    issued_at: dt.datetime
    expires_at: dt.datetime
    not_before: dt.datetime | None = None
    name: str = Field(min_length=1, max_length=MAX_NAME)
    person_class: PersonClass
    colour: Colour
    colour_since: dt.datetime | None = None
    test: NucleicAcidTest | None = None
    doses: int = Field(default=0, ge=0, le=MAX_DOSES)
    stays: tuple[Stay, ...] = Field(default=(), max_length=MAX_STAYS)
    group: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    window: VisitWindow | None = None
    goods: tuple[Goods, ...] = Field(default=(), max_length=MAX_GOODS)

    @model_validator(mode="after")
    def _times_make_sense(self) -> "HealthPassClaims":
        times = {n: getattr(self, n) for n in ("issued_at", "expires_at", "not_before", "colour_since")}
        times["test.at"] = self.test.at if self.test is not None else None
        times["window.start"] = self.window.start if self.window is not None else None
        times["window.end"] = self.window.end if self.window is not None else None
        for name, t in times.items():
            if t is None:
                continue
            if t.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")
            if not 0 <= t.timestamp() <= MAX_TIME:
                raise ValueError(f"{name} must lie between 1970 and 2999")
        if self.expires_at <= self.issued_at:
            raise ValueError("expires_at must be after issued_at")
        for stay in self.stays:
            if stay.end < stay.start:
                raise ValueError(f"stay in {stay.region} ends before it starts")
        if self.window is not None and self.window.end <= self.window.start:
            raise ValueError("window must end after it starts")
        return self


def _seconds(t: dt.datetime) -> int:
    return int(t.timestamp())


def encode_claims(c: HealthPassClaims) -> dict[int, Any]:
    """The CWT claims map (integer keys) for these claims."""
    hp: dict[int, Any] = {HP_NAME: c.name, HP_CLASS: c.person_class, HP_COLOUR: c.colour}
    if c.colour_since is not None:
        hp[HP_COLOUR_SINCE] = _seconds(c.colour_since)
    if c.test is not None:
        hp[HP_TEST] = {TEST_AT: _seconds(c.test.at), TEST_RESULT: c.test.result}
    if c.doses:
        hp[HP_DOSES] = c.doses
    if c.stays:
        hp[HP_STAYS] = [[s.region, s.start.isoformat(), s.end.isoformat()] for s in c.stays]
    if c.group is not None:
        hp[HP_GROUP] = c.group
    if c.window is not None:
        hp[HP_WINDOW] = {WINDOW_START: _seconds(c.window.start), WINDOW_END: _seconds(c.window.end)}
    if c.goods:
        hp[HP_GOODS] = [_encode_goods(g) for g in c.goods]
    claims: dict[int, Any] = {ISS: c.issuer, SUB: c.subject, EXP: _seconds(c.expires_at), IAT: _seconds(c.issued_at)}
    if c.not_before is not None:
        claims[NBF] = _seconds(c.not_before)
    claims[HP] = hp
    return claims


def decode_claims(raw: Any) -> HealthPassClaims:
    """Check a decoded CBOR claims map against the spec and return the claims, or raise BadClaims."""
    top = _map(raw, "claims", {ISS, SUB, EXP, NBF, IAT, HP})
    hp = _map(_need(top, HP, "claims"), "claims.hp", HP_KEYS)
    test = None
    if HP_TEST in hp:
        t = _map(hp[HP_TEST], "hp.test", {TEST_AT, TEST_RESULT})
        test = {"at": _time(_need(t, TEST_AT, "hp.test"), "hp.test.at"), "result": _choice(_need(t, TEST_RESULT, "hp.test"), TEST_RESULTS, "hp.test.result")}
    stays = []
    raw_stays = hp.get(HP_STAYS, [])
    if not isinstance(raw_stays, Sequence) or isinstance(raw_stays, (str, bytes)) or len(raw_stays) > MAX_STAYS:
        raise BadClaims(f"hp.stays must be an array of at most {MAX_STAYS}")
    for i, stay in enumerate(raw_stays):
        if not isinstance(stay, Sequence) or isinstance(stay, (str, bytes)) or len(stay) != 3:
            raise BadClaims(f"hp.stays[{i}] must be [region, start, end]")
        region, start, end = (_text(v, f"hp.stays[{i}]", 10) for v in stay)
        if not _REGION.fullmatch(region):
            raise BadClaims(f"hp.stays[{i}].region must be a 6-digit division code")
        stays.append({"region": region, "start": _date(start, f"hp.stays[{i}].start"), "end": _date(end, f"hp.stays[{i}].end")})
    fields = {
        "issuer": _text(_need(top, ISS, "claims"), "claims.iss", MAX_TEXT),
        "subject": _text(_need(top, SUB, "claims"), "claims.sub", MAX_TEXT),
        "expires_at": _time(_need(top, EXP, "claims"), "claims.exp"),
        "issued_at": _time(_need(top, IAT, "claims"), "claims.iat"),
        "not_before": _time(top[NBF], "claims.nbf") if NBF in top else None,
        "name": _text(_need(hp, HP_NAME, "hp"), "hp.name", MAX_NAME),
        "person_class": _choice(_need(hp, HP_CLASS, "hp"), CLASSES, "hp.class"),
        "colour": _choice(_need(hp, HP_COLOUR, "hp"), COLOURS, "hp.colour"),
        "colour_since": _time(hp[HP_COLOUR_SINCE], "hp.colour_since") if HP_COLOUR_SINCE in hp else None,
        "test": test,
        "doses": _int(hp.get(HP_DOSES, 0), "hp.doses", 0, MAX_DOSES),
        "stays": stays,
        "group": _text(hp[HP_GROUP], "hp.group", MAX_TEXT) if HP_GROUP in hp else None,
        "window": _decode_window(hp[HP_WINDOW]) if HP_WINDOW in hp else None,
        "goods": _decode_goods(hp.get(HP_GOODS, [])),
    }
    try:
        return HealthPassClaims(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise BadClaims(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from exc


def claims_json(c: HealthPassClaims) -> dict[str, Any]:
    """The code's own claims as JSON (what `inspect` prints): present claims only, times in UTC."""
    out: dict[str, Any] = {"iss": c.issuer, "sub": c.subject, "iat": utc_seconds(c.issued_at)}
    if c.not_before is not None:
        out["nbf"] = utc_seconds(c.not_before)
    out["exp"] = utc_seconds(c.expires_at)
    out["name"] = c.name
    out["class"] = c.person_class
    out["colour"] = c.colour
    if c.colour_since is not None:
        out["colourSince"] = utc_seconds(c.colour_since)
    if c.test is not None:
        out["test"] = {"at": utc_seconds(c.test.at), "result": c.test.result}
    out["doses"] = c.doses
    out["stays"] = [{"region": s.region, "start": s.start.isoformat(), "end": s.end.isoformat()} for s in c.stays]
    if c.group is not None:
        out["group"] = c.group
    if c.window is not None:
        out["window"] = {"start": utc_seconds(c.window.start), "end": utc_seconds(c.window.end)}
    if c.goods:
        out["goods"] = [goods_json(g) for g in c.goods]
    return out


def _encode_goods(g: Goods) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for key, name in GOODS_KEYS.items():
        value = getattr(g, name)
        if name == "cold_chain":
            if value:
                out[key] = True
        elif value is not None:
            out[key] = value
    return out


def _decode_window(raw: Any) -> dict[str, dt.datetime]:
    w = _map(raw, "hp.window", {WINDOW_START, WINDOW_END})
    return {"start": _time(_need(w, WINDOW_START, "hp.window"), "hp.window.start"),
            "end": _time(_need(w, WINDOW_END, "hp.window"), "hp.window.end")}


def _decode_goods(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)) or not len(raw) <= MAX_GOODS:
        raise BadClaims(f"hp.goods must be an array of at most {MAX_GOODS}")
    out = []
    for i, item in enumerate(raw):
        g = _map(item, f"hp.goods[{i}]", set(GOODS_KEYS))
        line: dict[str, Any] = {}
        for key, name in GOODS_KEYS.items():
            where = f"hp.goods[{i}].{name}"
            if name == "cold_chain":
                value = g.get(key, False)
                if not isinstance(value, bool):  # CBOR true/false only, never 0/1
                    raise BadClaims(f"{where} must be true or false")
                line[name] = value
            elif name == "report":
                line[name] = _text(g[key], where, GOODS_TEXT[name]) if key in g else None
            else:
                line[name] = _text(_need(g, key, f"hp.goods[{i}]"), where, GOODS_TEXT[name])
        out.append(line)
    return out


def _map(value: Any, where: str, allowed: set[int]) -> Mapping:
    if not isinstance(value, Mapping):
        raise BadClaims(f"{where} must be a map")
    for k in value:
        if not isinstance(k, int) or isinstance(k, bool) or k not in allowed:
            raise BadClaims(f"{where} has an unknown key {k!r}")
    return value


def _need(m: Mapping, key: int, where: str) -> Any:
    if key not in m:
        raise BadClaims(f"{where} lacks key {key}")
    return m[key]


def _text(value: Any, where: str, max_len: int) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise BadClaims(f"{where} must be text of 1-{max_len} characters")
    return value


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed or not isinstance(value, str):
        raise BadClaims(f"{where} must be one of {', '.join(allowed)}")
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadClaims(f"{where} must be an integer in {low}..{high}")
    return value


def _time(value: Any, where: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(_int(value, where, 0, MAX_TIME), dt.timezone.utc)


def _date(value: str, where: str) -> dt.date:
    if not _DATE.fullmatch(value):
        raise BadClaims(f"{where} must be a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise BadClaims(f"{where}: {exc}") from exc
