"""The transport both code formats share: base45 text around a zlib-compressed COSE message.

`HP1:` and `HC1:` wrap their COSE_Sign1 the same way; each format passes its own size limits,
and every stage is bounded before it runs so a hostile code cannot fill memory.
"""

from __future__ import annotations

import zlib

import base45

from protocols.errors import BadBase45, BadPrefix, BadZlib, Oversized, Unreadable


def strip_prefix(text: object, prefix: str, max_chars: int) -> str:
    """The base45 body after prefix, or raise Unreadable / Oversized / BadPrefix."""
    if not isinstance(text, str) or not text.strip():
        raise Unreadable("no text")
    # QR readers may add a line end; spaces are base45 digits, so only CR/LF are stripped.
    text = text.strip("\r\n")
    if len(text) > max_chars:
        raise Oversized(f"code text is {len(text)} characters")
    if not text.startswith(prefix):
        raise BadPrefix(f"code does not start with {prefix}")
    return text[len(prefix):]


def unbase45(body: str, max_bytes: int) -> bytes:
    """Base45-decode body (at most max_bytes once decoded) or raise BadBase45 / Oversized."""
    if len(body) * 2 // 3 > max_bytes:
        raise Oversized("base45 body too long")
    try:
        return base45.b45decode(body)
    except (ValueError, UnicodeError) as exc:
        raise BadBase45(f"body is not base45: {exc}") from exc


def inflate(data: bytes, max_in: int, max_out: int) -> bytes:
    """zlib-decompress data, reading at most max_in and producing at most max_out bytes."""
    if len(data) > max_in:
        raise Oversized("compressed body too long")
    inflater = zlib.decompressobj()
    try:
        # Bounded: a zlib bomb stops at max_out + 1 bytes instead of filling memory.
        out = inflater.decompress(data, max_out + 1)
    except zlib.error as exc:
        raise BadZlib(f"not a zlib stream: {exc}") from exc
    if len(out) > max_out or inflater.unconsumed_tail:
        raise Oversized("decompressed body too large")
    if not inflater.eof:
        raise BadZlib("zlib stream is truncated")
    if inflater.unused_data:
        raise BadZlib("bytes after the end of the zlib stream")
    return out
