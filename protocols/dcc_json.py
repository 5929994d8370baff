"""CBOR values of a DCC as plain JSON: what `Verification.claims` and the rules carry.

cbor2 6 hands back tag contents as tuples and frozendicts, dates (tags 0, 1, 100, 1004) as
datetime/date, byte strings as bytes; JSON has none of those.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import cbor2

from protocols.clock import utc_seconds

# A DCC nests four levels deep; a hostile one that nests deeper is cut off rather than recursed.
MAX_DEPTH = 32


def jsonable(value: Any, depth: int = 0) -> Any:
    """Convert decoded CBOR into JSON-able data: string keys, lists, ISO dates, base64 bytes."""
    if depth > MAX_DEPTH:
        raise ValueError("CBOR nests too deeply")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        return utc_seconds(value)  # naive: UTC
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {_key(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, cbor2.CBORTag):
        return jsonable(value.value, depth + 1)
    if value is cbor2.undefined:
        return None
    # CBORSimpleValue, Decimal, Fraction, UUID, IP addresses ...: their text is the honest rendering.
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return str(key).lower() if key is not None else "null"
    if isinstance(key, (bytes, bytearray)):
        return base64.b64encode(bytes(key)).decode("ascii")
    return str(key)
