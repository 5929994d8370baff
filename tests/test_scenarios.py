"""The POLICY.md scenario table: each case a boundary, asserting the decision and the rule ids.

One table, several paths: the engine (`evaluate`, with the reading check every caller runs first),
`checkpoint decide` on a real signed code and bundle, and a running gate (tests/test_scenarios_gate.py).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import zlib
from pathlib import Path
from typing import Any

import base45
import cbor2
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from agent.config import SUBJECT_KEY_ENV, subject_key_from_env
from agent.messages import local_reason
from checkpoint.cli import main
from protocols.bundle import Bundle, build_bundle, parse_risk_areas, sign_bundle
from protocols.cose import PrivateKey, sign1
from protocols.credential import Credential
from protocols.dcc import CWT_EXP, CWT_HCERT, CWT_IAT, CWT_ISS
from protocols.dcc import PREFIX as DCC_PREFIX
from protocols.dcc_credential import subject_id
from protocols.dcc_schema import validate_hcert
from protocols.decision import GateContext, evaluate
from protocols.healthpass import mint
from protocols.healthpass_claims import HealthPassClaims
from protocols.readings import remeasure_reason
from protocols.keys import key_id
from protocols.events import subject_hash
from protocols.rules import load_pack
from protocols.schedule import parse_schedule, sign_schedule
from protocols.trustlist import TrustList
from demo.samples import ISSUER, make_claims
from tests.helpers_codes import make_issuer, write_keydir

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


# The venue's key for hashing subject ids (CHECKPOINT_SUBJECT_KEY): a schedule names bookings by it.
SUBJECT_KEY_TEXT = "scenario-venue-subject-key"
SUBJECT_KEY = subject_key_from_env({SUBJECT_KEY_ENV: SUBJECT_KEY_TEXT})


def schedule_body(case: dict[str, Any]) -> dict[str, Any] | None:
    """The row's schedule as the hub signs it: bookings named by the keyed hash, never the subject id."""
    body = case["context"].get("schedule")
    if body is None:
        return None
    return {**body, "reservations": {subject_hash(SUBJECT_KEY, s): b for s, b in body["reservations"].items()}}


def context_for(case: dict[str, Any]) -> GateContext:
    """The case's gate context: the table's defaults with the case's fields laid over them."""
    fields = {**TABLE["context_defaults"], **case["context"]}
    at = dt.datetime.fromisoformat(fields.pop("at", TABLE["at"]))
    if fields.pop("schedule", None) is not None:
        subject = {**TABLE["credential_defaults"], **(case["credential"] or {})}["subject"]
        fields.update(schedule=parse_schedule(schedule_body(case)), holder=subject_hash(SUBJECT_KEY, subject))
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


def assert_says(case: dict[str, Any], report: dict[str, Any]) -> None:
    """The row's `says`: texts the reasons shown must carry (a window's slot, a zone)."""
    shown = " ".join(f"{r['message_zh']} {r['message_en']}" for r in report["reasons"])
    for text in case["expect"].get("says", []):
        assert text in shown, (text, shown)


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_scenario(case):
    report = engine_report(case)
    assert outcome(report) == expected(case), report
    assert_says(case, report)
    assert all(r["message_zh"] and r["message_en"] for r in report["reasons"])
    assert report["bundle_version"] == bundle_for(case["pack"], json.dumps(case.get("params", {}), sort_keys=True)).version


# ---- the same rows through `checkpoint decide`, on a real signed code and bundle --------------------------

# What `decide` can be told: a row needing more (goods, someone inside, a refused code) stays on the
# engine path (and the gate path where a gate can be shown it).
DECIDE_CONTEXT = {"celsius", "remeasure", "mask", "roster", "appointment", "venue_mode", "at", "schedule", "zone"}

# The fields a DCC row leaves out, from the EU test data (dgc-testdata common/DGC2-5), so the schema holds.
DCC_HOLDER = {"ver": "1.3.0", "nam": {"fn": "Musterfrau", "fnt": "MUSTERFRAU", "gn": "Gabriele", "gnt": "GABRIELE"},
              "dob": "1998-02-26"}
DCC_ENTRY = {
    "v": {"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215", "co": "DE",
          "is": "Robert Koch-Institut", "ci": "URN:UVCI:01DE/IZ12345A/5CWLU12RNOB9RXSEOP6FG8#W"},
    "t": {"tg": "840539006", "tc": "Testzentrum Berlin", "co": "DE", "is": "Robert Koch-Institut",
          "ci": "URN:UVCI:01DE/IZ12345A/5CWLU12RNOB9RXSEOP6FG8#T"},
    "r": {"tg": "840539006", "co": "DE", "is": "Robert Koch-Institut",
          "ci": "URN:UVCI:01DE/IZ12345A/5CWLU12RNOB9RXSEOP6FG8#R"},
}
RAT_DEVICE = "1232"  # a rapid antigen test names its device (value set test-manf)


def dcc_code(case: dict[str, Any], key: PrivateKey, given: str = "GABRIELE") -> tuple[str, str]:
    """The row's EU DCC as a real signed HC1 code, and the holder's subject id the gate computes."""
    fields = {**TABLE["credential_defaults"], **case["credential"]}
    hcert = {**DCC_HOLDER, "nam": {**DCC_HOLDER["nam"], "gn": given.title(), "gnt": given}}
    for kind, entries in fields["extra"]["hcert"].items():
        hcert[kind] = [{**DCC_ENTRY[kind], **({"ma": RAT_DEVICE} if e.get("tt") == "LP217198-3" else {}), **e}
                       for e in entries]
    at = lambda text: int(dt.datetime.fromisoformat(text).timestamp())  # noqa: E731
    cwt = {CWT_ISS: fields["issuer"], CWT_IAT: at(fields["issued_at"]), CWT_EXP: at(fields["expires_at"]),
           CWT_HCERT: {1: hcert}}
    cose = sign1(cbor2.dumps(cwt), key, key_id(key.public_key()))
    return DCC_PREFIX + base45.b45encode(zlib.compress(cose)).decode("ascii"), subject_id(validate_hcert(hcert))


def claims_for(case: dict[str, Any]) -> HealthPassClaims | None:
    """The HP1 claims for this row's credential, or None when no valid pass says that (no colour, a DCC)."""
    cred = credential_for(case)
    if cred is None or cred.format != "HP1":
        return None
    fields = cred.model_dump(include={"subject", "issued_at", "expires_at", "not_before", "name", "person_class",
                                      "colour", "colour_since", "test", "doses", "stays", "group", "window", "goods"})
    try:
        return make_claims(**fields, issuer=ISSUER)  # the trust list's issuer: the rules do not read it
    except ValidationError:
        return None


def is_dcc(case: dict[str, Any]) -> bool:
    """Whether the row's credential is an EU DCC."""
    return case["credential"] is not None and case["credential"].get("format") == "HC1"


def decidable(case: dict[str, Any]) -> bool:
    """Whether `checkpoint decide` can be given everything this row sets."""
    ctx = case["context"]
    # decide knows nobody inside (inside=False), and refuses a bundle not yet valid rather than refer.
    return ((is_dcc(case) or claims_for(case) is not None) and set(ctx) <= DECIDE_CONTEXT and "inside" not in ctx
            and dt.datetime.fromisoformat(ctx.get("at", TABLE["at"])) >= ISSUED)


DECIDABLE = [c for c in TABLE["cases"] if decidable(c)]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """An issuer, a root key and trust lists (HP1 as `codes keygen` writes it; one for an EU DCC signer)."""
    directory = tmp_path_factory.mktemp("scenario-keys")
    issuer_key, root_key = write_keydir(directory)
    dsc_key, dsc = make_issuer(issuer="DE", may_sign=("HC1.v", "HC1.t", "HC1.r"))
    TrustList([dsc]).save(directory / "trust-dcc.json", root_key)
    return directory, issuer_key, root_key, dsc_key


def test_the_decide_path_covers_most_rows():
    assert len(DECIDABLE) >= 120 and sum(map(is_dcc, DECIDABLE)) >= 17


# Slow as a whole (about 6 s: each run verifies and compiles its bundle), though each row is quick.
@pytest.mark.slow
@pytest.mark.parametrize("case", DECIDABLE, ids=[c["name"] for c in DECIDABLE])
def test_scenario_through_decide(case, keys, tmp_path):
    directory, issuer_key, root_key, dsc_key = keys
    bundle = bundle_for(case["pack"], json.dumps(case.get("params", {}), sort_keys=True))
    (tmp_path / "bundle.json").write_text(json.dumps(sign_bundle(bundle, root_key)))
    ctx = {**TABLE["context_defaults"], **case["context"]}
    if is_dcc(case):
        code, subject = dcc_code(case, dsc_key)
        trust = directory / "trust-dcc.json"
        # The appointment names the holder as the gate knows them: the DCC's pseudonymous subject id.
        if ctx.get("appointment") and ctx["appointment"]["subject"] == case["credential"]["subject"]:
            ctx["appointment"] = {**ctx["appointment"], "subject": subject}
    else:
        claims = claims_for(case)
        assert claims is not None
        code, trust = mint(claims, issuer_key), directory / "trust-list.json"
    args = ["decide", "--bundle", str(tmp_path / "bundle.json"), "--trust", str(trust),
            "--code", code, "--at", ctx.get("at", TABLE["at"]), "--max-bundle-age-hours", "100000"]
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
    if ctx.get("schedule") is not None:
        (tmp_path / "schedule.json").write_text(json.dumps(sign_schedule(parse_schedule(schedule_body(case)), root_key)))
        args += ["--schedule", str(tmp_path / "schedule.json")]
    if ctx.get("zone"):
        args += ["--zone", ctx["zone"]]
    env = {SUBJECT_KEY_ENV: SUBJECT_KEY_TEXT}
    result = CliRunner().invoke(main, args, catch_exceptions=False, env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert outcome(report) == expected(case), report
    assert_says(case, report)
