"""The POLICY.md scenario table: each case a boundary, asserting the decision and the rule ids.

One table, several paths: the engine (`evaluate`, with the reading check every caller runs first),
`checkpoint decide` on a real signed code and bundle, and a running gate (tests/test_scenarios_gate.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from agent.messages import local_reason
from checkpoint.cli import main
from protocols.bundle import Bundle, build_bundle, parse_risk_areas, sign_bundle
from protocols.credential import Credential
from protocols.decision import GateContext, evaluate
from protocols.healthpass import mint
from protocols.healthpass_claims import HealthPassClaims
from protocols.readings import remeasure_reason
from protocols.rules import load_pack
from demo.samples import ISSUER, make_claims
from tests.helpers_codes import write_keydir

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


def engine_report(case: dict[str, Any]) -> dict[str, Any]:
    """What a caller of the engine decides: the shared reading check first, then the rules."""
    bundle = bundle_for(case["pack"], json.dumps(case.get("params", {}), sort_keys=True))
    ctx = context_for(case)
    why = next((w for w in (remeasure_reason(c) for c in (ctx.celsius, ctx.remeasure) if c is not None) if w), None)
    if why is not None:
        return {"decision": "remeasure", "reasons": [local_reason(why, "OPEN").model_dump()],
                "bundle_version": bundle.version, "flags": []}
    return evaluate(bundle, credential_for(case), ctx).report()


def outcome(report: dict[str, Any]) -> tuple[str, list[str], list[str], list[str]]:
    """(decision, failed rules, open rules, flags), each list sorted: what a row expects."""
    rules = lambda kind: sorted(r["rule"] for r in report["reasons"] if r["outcome"] == kind)  # noqa: E731
    return report["decision"], rules("FAIL"), rules("OPEN"), sorted(report["flags"])


def expected(case: dict[str, Any]) -> tuple[str, list[str], list[str], list[str]]:
    """The row's expectation in the shape `outcome` returns."""
    e = case["expect"]
    return e["decision"], sorted(e["fail"]), sorted(e["open"]), sorted(e["flags"])


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_scenario(case):
    report = engine_report(case)
    assert outcome(report) == expected(case), report
    assert all(r["message_zh"] and r["message_en"] for r in report["reasons"])
    assert report["bundle_version"] == bundle_for(case["pack"], json.dumps(case.get("params", {}), sort_keys=True)).version


# ---- the same rows through `checkpoint decide`, on a real signed code and bundle --------------------------

# What `decide` can be told: a row needing more (goods, someone inside, a refused code, an EU DCC,
# which needs a schema-complete certificate to sign) is decided by the engine path and the gate path only.
DECIDE_CONTEXT = {"celsius", "remeasure", "mask", "roster", "appointment", "venue_mode", "at"}


def claims_for(case: dict[str, Any]) -> HealthPassClaims | None:
    """The HP1 claims for this row's credential, or None when no valid pass says that (no colour, a DCC)."""
    cred = credential_for(case)
    if cred is None or cred.format != "HP1":
        return None
    fields = cred.model_dump(include={"subject", "issued_at", "expires_at", "not_before", "name", "person_class",
                                      "colour", "colour_since", "test", "doses", "stays"})
    try:
        return make_claims(**fields, issuer=ISSUER)  # the trust list's issuer: the rules do not read it
    except ValidationError:
        return None


def decidable(case: dict[str, Any]) -> bool:
    """Whether `checkpoint decide` can be given everything this row sets."""
    ctx = case["context"]
    # decide knows nobody inside (inside=False), and refuses a bundle not yet valid rather than refer.
    return (claims_for(case) is not None and set(ctx) <= DECIDE_CONTEXT and "inside" not in ctx
            and dt.datetime.fromisoformat(ctx.get("at", TABLE["at"])) >= ISSUED)


DECIDABLE = [c for c in TABLE["cases"] if decidable(c)]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """An issuer, a root key and a trust list, written as `codes keygen` writes them."""
    directory = tmp_path_factory.mktemp("scenario-keys")
    issuer_key, root_key = write_keydir(directory)
    return directory, issuer_key, root_key


def test_the_decide_path_covers_most_rows():
    assert len(DECIDABLE) >= 100


@pytest.mark.parametrize("case", DECIDABLE, ids=[c["name"] for c in DECIDABLE])
def test_scenario_through_decide(case, keys, tmp_path):
    directory, issuer_key, root_key = keys
    claims = claims_for(case)
    assert claims is not None
    bundle = bundle_for(case["pack"], json.dumps(case.get("params", {}), sort_keys=True))
    (tmp_path / "bundle.json").write_text(json.dumps(sign_bundle(bundle, root_key)))
    ctx = {**TABLE["context_defaults"], **case["context"]}
    args = ["decide", "--bundle", str(tmp_path / "bundle.json"), "--trust", str(directory / "trust-list.json"),
            "--code", mint(claims, issuer_key), "--at", ctx.get("at", TABLE["at"]), "--max-bundle-age-hours", "100000"]
    for key, option in (("celsius", "--celsius"), ("remeasure", "--remeasure")):
        if ctx.get(key) is not None:
            args += [option, str(ctx[key])]
    if ctx.get("mask") is not None:
        args += ["--mask", "yes" if ctx["mask"] else "no"]
    for key in ("roster", "appointment"):
        if ctx.get(key) is not None:
            (tmp_path / f"{key}.json").write_text(json.dumps(ctx[key], ensure_ascii=False))
            args += [f"--{key}", str(tmp_path / f"{key}.json")]
    if ctx.get("venue_mode"):
        args += ["--venue-mode", ctx["venue_mode"]]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert outcome(report) == expected(case), report
