"""CertLogic (specification v1.3.3): validate an expression, compile it once, evaluate it fast.

Why our own evaluator and not a wrapper around panzi-json-logic 1.0.1 (installed, tried first):
run over the 218 active assertions of the CertLogic testSuite it fails 25 of them, all in
`recognising-minors-with-DCC-DOB.json` (14: no `dccDateOfBirth` operation) and
`recognising-minors-with-plusTime.json` (11: `plusTime` rejects the partial dates "2004" and
"2004-01"). It also has no validator (the validation-testSuite cannot run), follows JsonLogic's
loose truthiness (a float or a date-time is truthy, where CertLogic requires an error), compares
non-integers, and re-walks the JSON on every call. A gate decides thousands of times per rule
change, so we validate once, compile each expression into nested closures, and only do the type
checks that the specification leaves to run time.

Semantics follow the specification and its reference implementation (certlogic-js):
- truthy/falsy is strict: values that are neither (floats that are not integers, date-times)
  raise `RuleError`, as does every type mismatch;
- `and` is lazy and returns the first falsy operand, or the value of the last one;
- `<`, `>`, `<=`, `>=` and `+` take integers only; `after`/`before`/`not-after`/`not-before` take
  date-times only (made by `plusTime` or `dccDateOfBirth`), both in binary and ternary form;
- `plusTime` parses the listed ISO 8601 forms (partial dates as `dccDateOfBirth` does), works in
  UTC at millisecond precision, and offsets like JavaScript's `Date.setUTC*` (overflowing days roll
  over: 2020-02-29 + 1 year = 2021-03-01); that part lives in `protocols/certlogic_dates.py`;
- `reduce` over `null` gives the initial value; the lambda sees `current`, `accumulator` and, as
  the specification allows ("patched reduce"), `data`: the outer data context.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.certlogic_dates import dcc_date_of_birth, plus_time
from protocols.errors import RuleError

log = logging.getLogger(__name__)

Compiled = Callable[[Any], Any]
UTC = dt.timezone.utc
TIME_UNITS = ("year", "month", "day", "hour")
COMPARISONS = {
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}
DATE_COMPARISONS = {"after": ">", "before": "<", "not-after": "<=", "not-before": ">="}
ARITY: dict[str, tuple[int, int | None]] = {
    "if": (3, 3),
    "and": (2, None),
    "===": (2, 2),
    "in": (2, 2),
    "+": (2, 2),
    "!": (1, 1),
    "plusTime": (3, 3),
    "reduce": (3, 3),
    "extractFromUVCI": (2, 2),
    "dccDateOfBirth": (1, 1),
    **{op: (2, 3) for op in (*COMPARISONS, *DATE_COMPARISONS)},
}
_PATH_FRAGMENT = re.compile(r"^[^.]+$")
_UVCI_SEPARATORS = re.compile(r"[/#:]")


@dataclass(frozen=True)
class Issue:
    """One problem the validator found: the offending sub-expression and what is wrong with it."""

    expr: Any
    message: str


# ---------------------------------------------------------------- values


def is_int(value: Any) -> bool:
    """True for a JSON integer (JSON has one number type, so 42.0 counts, True does not)."""
    t = type(value)
    return t is int or (t is float and value.is_integer())


def truth(value: Any) -> bool:
    """CertLogic truthiness: True if truthy, False if falsy, RuleError if neither."""
    t = type(value)
    if t is bool:
        return value
    if value is None:
        return False
    if t is str or t is list or t is dict:
        return len(value) > 0
    if is_int(value):
        return value != 0
    if isinstance(value, Mapping) or (isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray))):
        return len(value) > 0
    raise RuleError(f"value is neither truthy nor falsy: {value!r}")


def strict_equal(a: Any, b: Any) -> bool:
    """JavaScript's `===` on JSON values: no coercion; arrays/objects/date-times only equal themselves."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return a is b


def extract_from_uvci(uvci: str | None, index: int) -> str | None:
    """`extractFromUVCI`: the index-th fragment of a UCI split on / # :, ignoring a URN:UVCI: prefix."""
    if uvci is None:
        return None
    if uvci.startswith("URN:UVCI:"):
        uvci = uvci[len("URN:UVCI:"):]
    fragments = _UVCI_SEPARATORS.split(uvci)
    return fragments[index] if 0 <= index < len(fragments) else None


def to_json(value: Any) -> Any:
    """A CertLogic result as JSON: date-times become ISO 8601 strings with milliseconds and Z."""
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


# ---------------------------------------------------------------- validation


def validate(expr: Any) -> list[Issue]:
    """Every structural issue in an expression (empty when it is valid CertLogic)."""
    issues: list[Issue] = []
    _validate(expr, issues)
    return issues


def _validate(expr: Any, issues: list[Issue]) -> None:
    if isinstance(expr, bool) or isinstance(expr, str) or type(expr) is int:
        return
    if type(expr) is float:
        if not expr.is_integer():
            issues.append(Issue(expr, f"{expr} is a non-integer number"))
        return
    if isinstance(expr, list):
        for item in expr:
            _validate(item, issues)
        return
    if not isinstance(expr, Mapping):
        issues.append(Issue(expr, "invalid CertLogic expression"))
        return
    if len(expr) != 1:
        issues.append(Issue(expr, f"expression object must have exactly one key, but it has {len(expr)}"))
        return
    (op, values), = expr.items()
    if op == "var":
        if not isinstance(values, str):
            issues.append(Issue(expr, 'not of the form { "var": "<path>" }'))
        elif values != "" and not all(_PATH_FRAGMENT.match(f) for f in values.split(".")):
            issues.append(Issue(expr, f"data access path doesn't have a valid format: {values}"))
        return
    if not isinstance(values, list):
        issues.append(Issue(expr, 'operation not of the form { "<operator>": [ <values...> ] }'))
        return
    if op not in ARITY:
        issues.append(Issue(expr, f'unrecognised operator: "{op}"'))
        return
    low, high = ARITY[op]
    if len(values) < low or (high is not None and len(values) > high):
        wanted = f"{low}" if low == high else f"{low} or {high}" if high else f"at least {low}"
        issues.append(Issue(expr, f'an operation with operator "{op}" must have {wanted} operands, not {len(values)}'))
        return
    literal_only = {"plusTime": (1, 2), "extractFromUVCI": (1,)}.get(op, ())
    for position, operand in enumerate(values):
        if position not in literal_only:
            _validate(operand, issues)
    if op == "plusTime":
        if not is_int(values[1]) or isinstance(values[1], bool):
            issues.append(Issue(expr, '"amount" argument (#2) of "plusTime" must be an integer'))
        if values[2] not in TIME_UNITS:
            issues.append(Issue(expr, f'"unit" argument (#3) of "plusTime" must be one of {", ".join(TIME_UNITS)}'))
    if op == "extractFromUVCI" and (not is_int(values[1]) or isinstance(values[1], bool)):
        issues.append(Issue(expr, '"index" argument (#2) of "extractFromUVCI" must be an integer'))


# ---------------------------------------------------------------- compilation


def compile_expression(expr: Any) -> Compiled:
    """Validate expr and turn it into a function of the data context; RuleError if invalid."""
    issues = validate(expr)
    if issues:
        first = issues[0]
        raise RuleError(f"{first.message} in {json.dumps(first.expr, ensure_ascii=False, default=str)[:200]}")
    return _compile(expr)


def evaluate(expr: Any, data: Any) -> Any:
    """Evaluate a CertLogic expression over data (compiles it first; cache `compile_expression` when reused)."""
    return compile_expression(expr)(data)


def _compile(expr: Any) -> Compiled:
    if isinstance(expr, list):
        items = [_compile(item) for item in expr]
        return lambda data: [f(data) for f in items]
    if not isinstance(expr, Mapping):
        constant = int(expr) if type(expr) is float else expr
        return lambda data: constant
    (op, values), = expr.items()
    if op == "var":
        return _compile_var(values)
    if op in COMPARISONS or op in DATE_COMPARISONS:
        return _compile_comparison(op, [_compile(v) for v in values])
    builder = _BUILDERS[op]
    return builder(values)


def _compile_var(path: str) -> Compiled:
    if path == "":
        return lambda data: data
    fragments = path.split(".")
    if not any(f.isdigit() for f in fragments):
        keys = tuple(fragments)

        # The common case, object keys only: plain indexing, and any miss (absent key, null,
        # a string or an array where an object should be) reads as null, as the spec says.
        def var_keys(data: Any) -> Any:
            try:
                for key in keys:
                    data = data[key]
            except (KeyError, TypeError, IndexError):
                return None
            return data

        return var_keys
    steps = [(frag, int(frag) if frag.isdigit() else None) for frag in fragments]

    def var(data: Any) -> Any:
        for key, index in steps:
            if type(data) is dict:
                data = data.get(key)
            elif type(data) is list:
                data = data[index] if index is not None and index < len(data) else None
            elif isinstance(data, Mapping):
                data = data.get(key)
            elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
                data = data[index] if index is not None and index < len(data) else None
            else:
                return None
        return data

    return var


def _compile_comparison(op: str, operands: list[Compiled]) -> Compiled:
    dates = op in DATE_COMPARISONS
    compare = COMPARISONS[DATE_COMPARISONS[op]] if dates else COMPARISONS[op]
    # The exact type of the common case is checked first; anything else goes through the full check.
    fast = dt.datetime if dates else int

    def check(values: tuple[Any, ...]) -> None:
        if dates:
            if not all(isinstance(v, dt.datetime) for v in values):
                raise RuleError(f'all operands of "{op}" must be date-times, got {values!r}')
        elif not all(is_int(v) and type(v) is not bool for v in values):
            raise RuleError(f'all operands of "{op}" must be integers, got {values!r}')

    if len(operands) == 2:
        left, right = operands

        def binary(data: Any) -> bool:
            a, b = left(data), right(data)
            if type(a) is not fast or type(b) is not fast:
                check((a, b))
            return compare(a, b)

        return binary
    first, second, third = operands

    def ternary(data: Any) -> bool:
        a, b, c = first(data), second(data), third(data)
        if type(a) is not fast or type(b) is not fast or type(c) is not fast:
            check((a, b, c))
        return compare(a, b) and compare(b, c)

    return ternary


def _build_if(values: list[Any]) -> Compiled:
    guard, then, otherwise = (_compile(v) for v in values)
    return lambda data: then(data) if truth(guard(data)) else otherwise(data)


def _build_and(values: list[Any]) -> Compiled:
    operands = [_compile(v) for v in values]
    first, rest = operands[0], operands[1:]

    def and_(data: Any) -> Any:
        value = first(data)
        for operand in rest:
            if not truth(value):
                return value
            value = operand(data)
        return value

    return and_


def _build_not(values: list[Any]) -> Compiled:
    operand = _compile(values[0])
    return lambda data: not truth(operand(data))


def _build_equal(values: list[Any]) -> Compiled:
    left, right = (_compile(v) for v in values)
    return lambda data: strict_equal(left(data), right(data))


def _build_in(values: list[Any]) -> Compiled:
    needle, haystack = (_compile(v) for v in values)

    def in_(data: Any) -> bool:
        item, items = needle(data), haystack(data)
        if not isinstance(items, list):
            raise RuleError(f'right-hand side of "in" must be an array, got {items!r}')
        if type(item) is str:  # a string equals only an equal string: Python's `in` is `===` here, and fast
            return item in items
        return any(strict_equal(item, candidate) for candidate in items)

    return in_


def _build_plus(values: list[Any]) -> Compiled:
    left, right = (_compile(v) for v in values)

    def plus(data: Any) -> int:
        a, b = left(data), right(data)
        if not (is_int(a) and is_int(b)) or type(a) is bool or type(b) is bool:
            raise RuleError(f'operands of "+" must both be integers, got {a!r} and {b!r}')
        return int(a) + int(b)

    return plus


def _build_plus_time(values: list[Any]) -> Compiled:
    operand, amount, unit = _compile(values[0]), int(values[1]), values[2]

    def plus_time_(data: Any) -> dt.datetime:
        text = operand(data)
        if not isinstance(text, str):
            raise RuleError(f'date argument of "plusTime" must be a string, got {text!r}')
        return plus_time(text, amount, unit)

    return plus_time_


def _build_reduce(values: list[Any]) -> Compiled:
    operand, lambda_, initial = (_compile(v) for v in values)

    def reduce_(data: Any) -> Any:
        items = operand(data)
        accumulator = initial(data)
        if items is None:
            return accumulator
        if not isinstance(items, list):
            raise RuleError(f'operand of "reduce" must be an array or null, got {items!r}')
        for item in items:
            accumulator = lambda_({"current": item, "accumulator": accumulator, "data": data})
        return accumulator

    return reduce_


def _build_extract(values: list[Any]) -> Compiled:
    operand, index = _compile(values[0]), int(values[1])

    def extract(data: Any) -> str | None:
        uvci = operand(data)
        if uvci is not None and not isinstance(uvci, str):
            raise RuleError(f'"UVCI" argument of "extractFromUVCI" must be a string or null, got {uvci!r}')
        return extract_from_uvci(uvci, index)

    return extract


def _build_dob(values: list[Any]) -> Compiled:
    operand = _compile(values[0])

    def dob(data: Any) -> dt.datetime:
        text = operand(data)
        if not isinstance(text, str):
            raise RuleError(f'argument of "dccDateOfBirth" must be a string, got {text!r}')
        return dcc_date_of_birth(text)

    return dob


_BUILDERS: dict[str, Callable[[list[Any]], Compiled]] = {
    "if": _build_if,
    "and": _build_and,
    "!": _build_not,
    "===": _build_equal,
    "in": _build_in,
    "+": _build_plus,
    "plusTime": _build_plus_time,
    "reduce": _build_reduce,
    "extractFromUVCI": _build_extract,
    "dccDateOfBirth": _build_dob,
}
