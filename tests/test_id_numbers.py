"""Resident ID numbers (GB 11643) and phone masking as imports take them (server/id_numbers.py)."""

from __future__ import annotations

import pytest

from server.id_numbers import IdNumberError, PhoneNumberError, check_id_number, mask_phone

# Published examples of valid numbers (the standard's own X check digit among them).
VALID = ["11010519491231002X", "440524188001010014", "110101199003074477"]


@pytest.mark.parametrize("number", VALID)
def test_valid_numbers_are_returned_in_hashed_form(number):
    assert check_id_number(number) == number
    assert check_id_number(" " + number.lower()[:6] + " " + number.lower()[6:] + "\t") == number


@pytest.mark.parametrize(("text", "code"), [
    ("", "missing"),
    ("   ", "missing"),
    ("11010519491231002", "length"),
    ("1101051949123100201", "length"),
    ("11010519491231002Y", "format"),
    ("1101051949123A002X", "format"),
    ("110105194912310021", "check_digit"),  # the right one is X
    ("440524188001010015", "check_digit"),
    ("110105194913310028", "birth_date"),  # month 13; check digit made right for it below
])
def test_bad_numbers_name_their_fault(text, code):
    if code == "birth_date":
        from stdnum.cn.ric import calc_check_digit
        text = text[:17] + calc_check_digit(text)  # it reads the first 17 of 18
    with pytest.raises(IdNumberError) as e:
        check_id_number(text)
    assert e.value.code == code
    assert e.value.zh and e.value.en and " / " in str(e.value)


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_phone("  ") is None
    for bad in ("12345", "23812345678", "1381234567a"):
        with pytest.raises(PhoneNumberError, match="11"):
            mask_phone(bad)
