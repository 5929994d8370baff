"""What a gate records beside a decision for backtests keeps no identity of an EU DCC holder."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from protocols.bundle import build_bundle
from protocols.credential import Credential
from protocols.decision import GateContext, decision_inputs, replay
from protocols.rules import load_pack

AT = dt.datetime(2026, 11, 29, 8, 0, tzinfo=dt.timezone.utc)
HCERT = {
    "ver": "1.3.0",
    "nam": {"fn": "Musterfrau", "fnt": "MUSTERFRAU", "gn": "Erika", "gnt": "ERIKA"},
    "dob": "1964-08-12",
    "v": [{"tg": "840539006", "dn": 2, "sd": 2, "dt": "2021-05-29", "co": "DE", "ci": "URN:UVCI:01:DE:ABC#X"}],
}


def keyed(text: str) -> str:
    """Stands in for the gate's keyed hash: an opaque digest of the text."""
    return hashlib.sha256(b"venue-key" + text.encode()).hexdigest()[:32]


def dcc_credential() -> Credential:
    return Credential(format="HC1", issuer="DE", kid="a2lk", issued_at=AT - dt.timedelta(days=30),
                      expires_at=AT + dt.timedelta(days=300), subject="dcc-subject", name="M***",
                      doses=2, extra={"hcert": HCERT})


def test_recorded_inputs_drop_the_holders_name_and_birth_date_and_hash_certificate_ids():
    bundle = build_bundle(load_pack("office"))
    ctx = GateContext(at=AT, celsius=36.5, mask=True)
    inputs = decision_inputs(bundle, dcc_credential(), ctx, hash_subject=keyed)
    text = json.dumps(inputs, ensure_ascii=False)
    for secret in ("Musterfrau", "MUSTERFRAU", "Erika", "1964-08-12", "URN:UVCI:01:DE:ABC#X"):
        assert secret not in text
    hcert = inputs["payload"]["hcert"]
    assert hcert["v"][0]["ci"] == keyed("URN:UVCI:01:DE:ABC#X") and inputs["payload"]["sub"] == keyed("dcc-subject")
    assert hcert["v"][0]["dn"] == 2  # what rules read stays


def test_without_a_hash_the_certificate_ids_are_dropped_and_the_replay_still_decides():
    bundle = build_bundle(load_pack("office"))
    ctx = GateContext(at=AT, celsius=36.5, mask=True)
    inputs = decision_inputs(bundle, dcc_credential(), ctx)
    assert "ci" not in inputs["payload"]["hcert"]["v"][0]
    assert "nam" not in inputs["payload"]["hcert"]
    assert replay(bundle, inputs, AT).decision in ("admit", "deny", "refer")
