"""`agent simulate --root-pub --issuer-key`: a simulated gate decides by signed documents and its people carry the trusted issuer's codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.gate import build_gate
from agent.simulation import Simulation
from protocols.bundle import RiskArea, RiskAreas, build_bundle, sign_bundle
from protocols.errors import ConfigError
from protocols.keys import generate_private_key, save_private_key, save_public_key
from protocols.rules import load_pack
from protocols.trustlist import TrustedKey, TrustList
from tests.agent_gate_helpers import gate_config
from demo.processes import free_port

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]


def signed_documents(tmp_path: Path):
    """A root key, an issuer key, and the trust list and bundle the root signed."""
    root, issuer = generate_private_key("ES256"), generate_private_key("ES256")
    save_public_key(root, tmp_path / "root-pub.pem")
    save_private_key(issuer, tmp_path / "issuer.pem")
    TrustList([TrustedKey.from_public_key(issuer.public_key(), "sim-health-authority")]).save(
        tmp_path / "trustlist.json", root)
    bundle = build_bundle(load_pack("factory-gate"), {"feverDeci": 380},
                          RiskAreas(regions=[RiskArea(region="310115", level="high")]))
    (tmp_path / "bundle.json").write_text(json.dumps(sign_bundle(bundle, root)))
    return issuer, bundle.version


@pytest.mark.slow
def test_a_signed_simulation_decides_by_the_signed_bundle_with_the_issuers_people(tmp_path):
    issuer, version = signed_documents(tmp_path)
    cfg = gate_config(tmp_path, rules={"bundle": str(tmp_path / "bundle.json"), "root_public_key":
                                       str(tmp_path / "root-pub.pem"), "trust_list": str(tmp_path / "trustlist.json")})
    sim = Simulation(cfg, seed=5, issuer_key=issuer)
    try:
        green = sim.present(sim.factory.person("green"))
        assert green.decision == "admit" and green.bundle_version == version
        # The signed bundle's own parameter decides: 37.6 is under its 38.0 threshold.
        warm = sim.present(sim.factory.person("green"), 37.6)
        assert warm.decision == "admit", warm.reasons
        forged = sim.present(sim.factory.person("forged"))
        assert forged.decision == "deny" and forged.note == "code: bad_signature"
    finally:
        sim.close()


@pytest.mark.slow
def test_root_pub_without_an_issuer_key_is_refused_with_a_clear_message(tmp_path):
    signed_documents(tmp_path)
    run = subprocess.run([*CLI, "agent", "simulate", "--people", "1", "--root-pub", str(tmp_path / "root-pub.pem")],
                         capture_output=True, text=True, timeout=60, env=os.environ)
    assert run.returncode == 2 and "--root-pub needs --issuer-key" in run.stderr


def test_a_syncing_gate_with_no_documents_and_no_hub_stops_with_a_clear_error(tmp_path):
    signed_documents(tmp_path)
    cfg = gate_config(tmp_path, rules={"root_public_key": str(tmp_path / "root-pub.pem")},
                      sync={"hub_url": f"http://127.0.0.1:{free_port()}", "device_id": "dev-1",
                            "documents_dir": str(tmp_path / "documents")})
    with pytest.raises(ConfigError, match="no bundle or trustlist yet and the hub cannot be reached"):
        build_gate(cfg)
