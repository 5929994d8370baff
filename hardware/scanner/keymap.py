"""The US keyboard layout a HID "keyboard wedge" scanner types in: characters <-> (key name, shift).

Key names are python-evdev's `ecodes` names (the kernel's KEY_* constants); the evdev driver
and the uinput simulator both resolve them there, so this module imports without evdev.
"""

from __future__ import annotations

from dataclasses import dataclass

_UNSHIFTED = {
    **{chr(c): f"KEY_{chr(c).upper()}" for c in range(ord("a"), ord("z") + 1)},
    **{str(d): f"KEY_{d}" for d in range(10)},
    " ": "KEY_SPACE", "-": "KEY_MINUS", "=": "KEY_EQUAL", "[": "KEY_LEFTBRACE", "]": "KEY_RIGHTBRACE",
    "\\": "KEY_BACKSLASH", ";": "KEY_SEMICOLON", "'": "KEY_APOSTROPHE", "`": "KEY_GRAVE", ",": "KEY_COMMA",
    ".": "KEY_DOT", "/": "KEY_SLASH",
}
_SHIFTED = {
    **{chr(c).upper(): f"KEY_{chr(c).upper()}" for c in range(ord("a"), ord("z") + 1)},
    "!": "KEY_1", "@": "KEY_2", "#": "KEY_3", "$": "KEY_4", "%": "KEY_5", "^": "KEY_6", "&": "KEY_7",
    "*": "KEY_8", "(": "KEY_9", ")": "KEY_0", "_": "KEY_MINUS", "+": "KEY_EQUAL", "{": "KEY_LEFTBRACE",
    "}": "KEY_RIGHTBRACE", "|": "KEY_BACKSLASH", ":": "KEY_SEMICOLON", '"': "KEY_APOSTROPHE", "~": "KEY_GRAVE",
    "<": "KEY_COMMA", ">": "KEY_DOT", "?": "KEY_SLASH",
}
SHIFT_KEYS = ("KEY_LEFTSHIFT", "KEY_RIGHTSHIFT")
ENTER_KEYS = ("KEY_ENTER", "KEY_KPENTER")
# Keys a wedge scanner may send that carry no character (a prefix/suffix some are set to send).
IGNORED_KEYS = ("KEY_CAPSLOCK", "KEY_NUMLOCK", "KEY_LEFTCTRL", "KEY_RIGHTCTRL", "KEY_LEFTALT", "KEY_RIGHTALT")
# Every key the simulator must declare and the driver must understand.
ALL_KEYS = tuple(sorted({*_UNSHIFTED.values(), *SHIFT_KEYS, *ENTER_KEYS, *IGNORED_KEYS}))


@dataclass(frozen=True)
class Stroke:
    """One character as a key press: the key's name and whether shift is held."""

    key: str
    shift: bool


class UntypeableError(ValueError):
    """A character a US keyboard wedge cannot type."""


def stroke_for(char: str) -> Stroke:
    """How a US keyboard types `char`; UntypeableError when it cannot."""
    if char in _UNSHIFTED:
        return Stroke(_UNSHIFTED[char], False)
    if char in _SHIFTED:
        return Stroke(_SHIFTED[char], True)
    raise UntypeableError(f"character {char!r} cannot be typed on a US keyboard")


def strokes_for(text: str) -> list[Stroke]:
    """The key presses that type `text` (without the Enter that ends it)."""
    return [stroke_for(char) for char in text]


_BY_KEY: dict[tuple[str, bool], str] = {
    **{(key, False): char for char, key in _UNSHIFTED.items()},
    **{(key, True): char for char, key in _SHIFTED.items()},
}


def char_for(key: str, shift: bool) -> str | None:
    """The character a key types with or without shift on a US layout; None for a key that types none."""
    return _BY_KEY.get((key, shift))
