"""Resident ID numbers (GB 11643-1999) and phone numbers as the hub takes them in: checked, then hashed or masked.

The check is python-stdnum's `stdnum.cn.ric`: length, digits, the ISO 7064 MOD 11-2 check digit and a real
birth date. Not its birth-place lookup: a person keeps their number when their county's code is abolished,
and stdnum's table of codes is not complete for old ones (it refuses the standard's own 440524188001010014).
This module words the refusals in Chinese and English, so an import names what is wrong with a row's number. A number is never kept: the store hashes the normalised form
(`server.store_people.normalise_id_number`), and names are masked with `protocols.events.mask_name`.
"""

from __future__ import annotations

import re
from stdnum.cn import ric
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

# A mainland mobile number: 11 digits starting 1; an optional +86 / 86 prefix, spaces and dashes allowed.
_PHONE = re.compile(r"^(?:\+?86)?(1\d{10})$")


class NumberRefused(ValueError):
    """Why a number a person typed is refused: a code, and the reason in Chinese and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.code = code
        self.zh = zh
        self.en = en


class IdNumberError(NumberRefused):
    """A resident ID number refused: code missing | length | format | check_digit | birth_date."""


class PhoneNumberError(NumberRefused):
    """A phone number refused (code format)."""


_REFUSALS: dict[type[ValidationError], tuple[str, str, str]] = {
    InvalidLength: ("length", "身份证号应为18位", "a resident ID number has 18 characters"),
    InvalidFormat: ("format", "身份证号应为17位数字加1位数字或X", "a resident ID number is 17 digits and a digit or X"),
    InvalidChecksum: ("check_digit", "身份证号校验位错误（GB 11643）", "wrong check digit (GB 11643)"),
    InvalidComponent: ("birth_date", "身份证号中的出生日期无效", "the birth date in the number is not a real date"),
}


def check_id_number(text: str) -> str:
    """The ID number in its hashed form (18 characters, upper-case X) when valid; raises IdNumberError otherwise."""
    compact = "".join(text.split()).upper()  # spaces a spreadsheet or a copy-paste put inside the number
    if not compact:
        raise IdNumberError("missing", "缺少身份证号", "the resident ID number is missing")
    try:
        if len(compact) != 18:
            raise InvalidLength()
        if not (compact[:17].isdigit() and compact.isascii() and (compact[17].isdigit() or compact[17] == "X")):
            raise InvalidFormat()
        if compact[17] != ric.calc_check_digit(compact):
            raise InvalidChecksum()
        ric.get_birth_date(compact)  # InvalidComponent for a date that does not exist
        return compact
    except ValidationError as e:
        refusal = next((r for kind, r in _REFUSALS.items() if isinstance(e, kind)), None)
        raise IdNumberError(*(refusal or ("format", "身份证号无效", "not a resident ID number"))) from None


def mask_phone(text: str) -> str | None:
    """A mainland mobile number masked to its first 3 and last 4 digits (138****5678); None when empty.

    Raises PhoneNumberError for text that is not a mobile number.
    """
    compact = re.sub(r"[\s\-()]", "", text)
    if not compact:
        return None
    m = _PHONE.match(compact)
    if m is None:
        raise PhoneNumberError("format", "手机号应为以1开头的11位数字", "a mobile number has 11 digits starting with 1")
    digits = m.group(1)
    return digits[:3] + "****" + digits[-4:]
