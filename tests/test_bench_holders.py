"""bench/holders.py measures real passes: the holders it seeds (roster import, authority feed, declaration, link)
each get a green pass from the holder endpoint, so its latencies are of issued passes, never of refusals."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from protocols.clock import utc_now
from protocols.healthpass import verify_healthpass
from protocols.trustlist import TrustList
from server.app import create_app
from server.issuing import IssuerKeys

BENCH = Path(__file__).resolve().parents[1] / "bench" / "holders.py"


def test_the_benchmarks_holders_are_issued_green_passes(tmp_path: Path, monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("bench_holders", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    keys = tmp_path / "issuer-keys"
    secrets = bench.seed(tmp_path / "hub.db", keys, 5)
    assert len(set(secrets)) == 5
    monkeypatch.setenv("CHECKPOINT_ISSUER_KEYS", str(keys))
    client = create_app({"DATABASE": str(tmp_path / "hub.db"), "TESTING": True}).test_client()
    trust = TrustList([IssuerKeys(keys).trusted_key(bench.VENUE)])
    for secret in secrets:
        body = client.get(f"/h/{secret}/pass").get_json()
        assert body["ok"] and body["colour"] == "green", body
        assert verify_healthpass(body["code"], trust, utc_now()).ok
