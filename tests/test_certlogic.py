"""The CertLogic evaluator against the specification's own test suites, and the traps beside them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.corpora import corpus_dir
from protocols.certlogic import compile_expression, evaluate, to_json, truth, validate
from protocols.certlogic_dates import parse_date_time, plus_time
from protocols.errors import RuleError


def corpora() -> Path:
    """The vendored corpora folder (tests/corpora)."""
    suite = corpus_dir("certlogic")
    if not (suite / "testSuite").is_dir():
        pytest.fail(f"CertLogic corpus missing at {suite}")
    return suite.parent


def _suite_assertions() -> list[Any]:
    suite = corpora() / "certlogic" / "testSuite"
    params = []
    for path in sorted(suite.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for case in doc["cases"]:
            for number, assertion in enumerate(case["assertions"]):
                skipped = "skip" in (doc.get("directive"), case.get("directive"), assertion.get("directive"))
                expr = assertion.get("certLogicExpression", case.get("certLogicExpression"))
                marks = [pytest.mark.skip(reason="marked skip in the suite")] if skipped else []
                ident = f"{path.stem}:{case['name'][:40]}:{number}"
                params.append(pytest.param(expr, assertion["data"], assertion["expected"], id=ident, marks=marks))
    return params


def _same(a: Any, b: Any) -> bool:
    """JSON equality that tells true from 1 and false from 0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


SUITE = _suite_assertions()


def test_suite_has_the_218_active_assertions_of_spec_1_3_3():
    active = [p for p in SUITE if not p.marks]
    assert len(active) == 218


@pytest.mark.parametrize(("expr", "data", "expected"), SUITE)
def test_certlogic_suite(expr, data, expected):
    assert _same(to_json(evaluate(expr, data)), expected)


def test_patched_reduce_sees_outer_data_even_though_the_suite_skips_it():
    expr = {"reduce": [{"var": "x"}, {"+": [{"var": "accumulator"}, {"if": [{"===": [{"var": "current"}, {"var": "data.z"}]}, 1, 0]}]}, 0]}
    assert evaluate(expr, {"x": [1, 2, 1, 1], "z": 1}) == 3


def _validation_cases() -> list[Any]:
    params = []
    for path in sorted((corpora() / "certlogic" / "validation-testSuite").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for number, case in enumerate(doc["cases"]):
            params.append(pytest.param(case["certLogicExpression"], case["issues"], id=f"{path.stem}:{number}"))
    return params


@pytest.mark.parametrize(("expr", "issues"), _validation_cases())
def test_validation_suite_reports_the_listed_issues(expr, issues):
    found = [{"expr": i.expr, "message": i.message} for i in validate(expr)]
    assert found == issues


@pytest.mark.parametrize(
    ("expr", "data"),
    [
        ({"!": [{"var": "x"}]}, {"x": 1.5}),  # a float is neither truthy nor falsy
        ({"if": [{"plusTime": ["2021-01-01", 0, "day"]}, 1, 2]}, {}),  # nor is a date-time
        ({"and": [{"var": "x"}, True]}, {"x": 0.5}),
        ({"<": [{"var": "x"}, 37]}, {"x": 37.3}),  # integer-only comparisons
        ({"<": [{"var": "x"}, 37]}, {"x": None}),
        ({"<": [{"var": "x"}, 37]}, {"x": True}),
        ({">": ["a", "b"]}, {}),
        ({"after": [{"var": "x"}, {"plusTime": ["2021-01-01", 0, "day"]}]}, {"x": "2021-01-02"}),
        ({"+": [{"var": "x"}, 1]}, {"x": "1"}),
        ({"in": ["a", {"var": "x"}]}, {"x": "abc"}),
        ({"in": ["a", {"var": "x"}]}, {"x": None}),
        ({"plusTime": [{"var": "x"}, 1, "day"]}, {"x": 20210101}),
        ({"plusTime": [{"var": "x"}, 1, "day"]}, {"x": "2021-13-01"}),
        ({"plusTime": [{"var": "x"}, 1, "day"]}, {"x": "yesterday"}),
        ({"reduce": [{"var": "x"}, {"var": "current"}, 0]}, {"x": "abc"}),
        ({"extractFromUVCI": [{"var": "x"}, 0]}, {"x": 42}),
        ({"dccDateOfBirth": [{"var": "x"}]}, {"x": "1990-1"}),
    ],
)
def test_type_mismatches_raise_rule_error_not_a_guess(expr, data):
    with pytest.raises(RuleError):
        evaluate(expr, data)


@pytest.mark.parametrize(
    "expr",
    [
        None,
        3.14,
        {},
        {"var": 1},
        {"var": "a..b"},
        {"all": [1]},
        {"if": [True, 1]},
        {"and": [True]},
        {"===": [1, 2, 3]},
        {"<": [1]},
        {"plusTime": ["2021-01-01", 1.5, "day"]},
        {"plusTime": ["2021-01-01", 1, "week"]},
        {"plusTime": ["2021-01-01", {"var": "n"}, "day"]},
        {"extractFromUVCI": ["x", "0"]},
        {"!": [{"foo": [1]}]},
    ],
)
def test_invalid_expressions_are_refused_before_evaluation(expr):
    assert validate(expr)
    with pytest.raises(RuleError):
        compile_expression(expr)


def test_and_returns_operand_values_lazily():
    expr = {"and": [{"var": "a"}, {"plusTime": [{"var": "a"}, 0, "day"]}]}
    assert evaluate(expr, {"a": ""}) == ""  # the second operand would raise on ""
    assert evaluate({"and": [1, "x", [1]]}, {}) == [1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021", "2021-12-31T00:00:00.000Z"),
        ("2020-02", "2020-02-29T00:00:00.000Z"),
        ("2021-06-01", "2021-06-01T00:00:00.000Z"),
        ("2021-06-01T10:00:00", "2021-06-01T10:00:00.000Z"),
        ("2021-06-01T10:00:00Z", "2021-06-01T10:00:00.000Z"),
        ("2021-06-01T10:00:00+1", "2021-06-01T09:00:00.000Z"),
        ("2021-06-01T10:00:00-01", "2021-06-01T11:00:00.000Z"),
        ("2021-06-01T10:00:00+130", "2021-06-01T08:30:00.000Z"),
        ("2021-06-01T10:00:00+0130", "2021-06-01T08:30:00.000Z"),
        ("2021-06-01T10:00:00+1:30", "2021-06-01T08:30:00.000Z"),
        ("2021-06-01T10:00:00+08:00", "2021-06-01T02:00:00.000Z"),
        ("2021-06-01T10:00:00.1Z", "2021-06-01T10:00:00.100Z"),
        ("2021-06-01T10:00:00.123999+08:00", "2021-06-01T02:00:00.123Z"),
    ],
)
def test_plus_time_reads_every_listed_form_in_utc(text, expected):
    assert to_json(parse_date_time(text)) == expected


@pytest.mark.parametrize(
    ("text", "amount", "unit", "expected"),
    [
        ("2020-02-29", 1, "day", "2020-03-01T00:00:00.000Z"),
        ("2020-02-29", 1, "month", "2020-03-29T00:00:00.000Z"),
        ("2020-02-29", 1, "year", "2021-03-01T00:00:00.000Z"),
        ("2021-01-31", 1, "month", "2021-03-03T00:00:00.000Z"),
        ("2021-03-31", -1, "month", "2021-03-03T00:00:00.000Z"),
        ("2021-12-15", 1, "month", "2022-01-15T00:00:00.000Z"),
        ("2021-01-15", -13, "month", "2019-12-15T00:00:00.000Z"),
        ("2021-03-28T00:30:00+01:00", 48, "hour", "2021-03-29T23:30:00.000Z"),
    ],
)
def test_plus_time_offsets_like_javascript_dates(text, amount, unit, expected):
    assert to_json(plus_time(text, amount, unit)) == expected


@given(st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)), st.integers(-5000, 5000))
def test_plus_time_hours_round_trip(moment, hours):
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    there = to_json(plus_time(text, hours, "hour"))
    back = plus_time(there, -hours, "hour")
    assert back == moment.replace(microsecond=0, tzinfo=dt.timezone.utc)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=2), c, max_size=3), max_leaves=8))
def test_truthiness_is_total_on_json_values(value):
    assert truth(value) in (True, False)


_OPS = ["if", "and", "===", "in", "+", "!", "<", ">=", "after", "not-before", "plusTime", "reduce", "extractFromUVCI", "dccDateOfBirth", "var", "all"]
_LEAVES = st.none() | st.booleans() | st.integers(-10, 10) | st.floats(allow_nan=True) | st.sampled_from(["", "a", "x", "2021-01-01", "2021-06-01T10:00:00+08:00", "day", "current", "accumulator"])
_EXPRS = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4)
    | st.builds(lambda op, args: {op: args}, st.sampled_from(_OPS), st.lists(inner, max_size=4) | inner),
    max_leaves=12,
)
_DATA = st.recursive(_LEAVES, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["x", "a", "0", "current"]), c, max_size=3), max_leaves=8)


@pytest.mark.slow
@given(_EXPRS, _DATA)
def test_any_json_expression_either_evaluates_or_raises_rule_error(expr, data):
    try:
        to_json(evaluate(expr, data))
    except RuleError:
        pass
