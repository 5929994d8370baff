"""The POLICY.md scenario table: each case a boundary, asserting the decision and the rule ids."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from protocols.bundle import Bundle, build_bundle, parse_risk_areas
from protocols.credential import Credential
from protocols.decision import GateContext, evaluate
from protocols.rules import load_pack

TABLE = json.loads((Path(__file__).parent / "data" / "scenarios.json").read_text(encoding="utf-8"))
AT = dt.datetime.fromisoformat(TABLE["at"])
ISSUED = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


@functools.lru_cache(maxsize=None)
def bundle_for(pack: str, params_json: str) -> Bundle:
    """One bundle per pack and parameter set, built the way the hub builds them."""
    return build_bundle(load_pack(pack), json.loads(params_json), parse_risk_areas(TABLE["risk_areas"]), issued_at=ISSUED)


def credential_for(case: dict[str, Any]) -> Credential | None:
    """The case's credential: the table's defaults with the case's fields laid over them."""
    if case["credential"] is None:
        return None
    return Credential.model_validate({**TABLE["credential_defaults"], **case["credential"]})


def context_for(case: dict[str, Any]) -> GateContext:
    """The case's gate context: the table's defaults with the case's fields laid over them."""
    fields = {**TABLE["context_defaults"], **case["context"]}
    at = dt.datetime.fromisoformat(fields.pop("at", TABLE["at"]))
    return GateContext(at=at, **fields)


def test_table_has_at_least_60_cases_over_every_pack():
    assert len(TABLE["cases"]) >= 60
    assert {c["pack"] for c in TABLE["cases"]} == {"factory-gate", "school-gate", "kindergarten-gate", "market-entrance", "canteen", "office"}


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_scenario(case):
    bundle = bundle_for(case["pack"], json.dumps(case.get("params", {}), sort_keys=True))
    result = evaluate(bundle, credential_for(case), context_for(case))
    expect = case["expect"]
    failed = [r.rule for r in result.reasons if r.outcome == "FAIL"]
    opened = [r.rule for r in result.reasons if r.outcome == "OPEN"]
    assert (result.decision, sorted(failed), sorted(opened), sorted(result.flags)) == (
        expect["decision"], sorted(expect["fail"]), sorted(expect["open"]), sorted(expect["flags"])
    ), result.report()
    assert all(r.message_zh and r.message_en for r in result.reasons)
    assert result.bundle_version == bundle.version
