"""`checkpoint agent run`: a gate deciding by a signed bundle and trust list, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.decider import Decider
from agent.documents import read_root_key, watch_bundle
from agent.people import PeopleFactory
from protocols.bundle import build_bundle, sign_bundle
from protocols.errors import ConfigError
from protocols.keys import generate_private_key, save_public_key
from protocols.rules import load_pack

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
ENV = {**os.environ, "CHECKPOINT_SUBJECT_KEY": "00112233445566778899aabbccddeeff", "CHECKPOINT_LOG": "WARNING"}


def write_gate(tmp_path: Path, codes: list[str], factory: PeopleFactory, root=None) -> Path:
    root = root or generate_private_key("ES256")
    save_public_key(root, tmp_path / "root.pub.pem")
    factory.trust.save(tmp_path / "trustlist.json", root)
    bundle = build_bundle(load_pack("factory-gate"), risk_areas=factory.risk_areas)
    (tmp_path / "bundle.json").write_text(json.dumps(sign_bundle(bundle, root)))
    config = tmp_path / "agent.toml"
    config.write_text(f"""
[gate]
venue = "factory-1"
gate = "east-2"
open_s = 0.3
[store]
path = "agent.sqlite"
[camera]
type = "simulated"
fps = 30
codes = {json.dumps(codes)}
present_every_s = 1.5
present_for_s = 0.8
[thermometer]
type = "simulated"
interval_s = 0.05
[barrier]
type = "simulated"
journal = "relay.jsonl"
[speaker]
type = "off"
[kiosk]
port = 0
[rules]
bundle = "bundle.json"
trust_list = "trustlist.json"
root_public_key = "root.pub.pem"
[presentation]
dedupe_s = 0.5
anti_passback_s = 0
""", encoding="utf-8")
    return config


@pytest.mark.slow
def test_run_decides_by_the_signed_bundle_and_sigterm_leaves_the_barrier_locked(tmp_path):
    factory = PeopleFactory(seed=2)
    codes = [factory.person("green").code, factory.person("red").code]
    config = write_gate(tmp_path, codes, factory)
    proc = subprocess.Popen([*CLI, "agent", "run", "--config", str(config)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        decisions = 0
        while time.monotonic() < deadline and decisions < 2 and proc.poll() is None:
            time.sleep(0.2)
            if (tmp_path / "agent.sqlite").exists():
                conn = sqlite3.connect(tmp_path / "agent.sqlite")
                decisions = conn.execute("SELECT count(*) FROM events").fetchone()[0] if conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE name='events'").fetchone() else 0
                conn.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    conn = sqlite3.connect(tmp_path / "agent.sqlite")
    rows = conn.execute("SELECT decision, colour, bundle_version FROM events ORDER BY id").fetchall()
    conn.close()
    assert ("admit", "green") in [(d, c) for d, c, _ in rows] and ("deny", "red") in [(d, c) for d, c, _ in rows]
    assert all(v.startswith("factory-gate-") for _, _, v in rows)
    relay = [json.loads(line) for line in (tmp_path / "relay.jsonl").read_text().splitlines()]
    assert relay[-1]["state"] == "locked"
    assert "放行 ADMIT" in out


@pytest.mark.slow
def test_run_refuses_a_bundle_not_signed_by_the_root_key(tmp_path):
    factory = PeopleFactory(seed=3)
    config = write_gate(tmp_path, [], factory)
    save_public_key(generate_private_key("ES256"), tmp_path / "root.pub.pem")  # a different root
    result = subprocess.run([*CLI, "agent", "run", "--config", str(config)], env=ENV,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "trust list" in result.stderr or "bundle" in result.stderr


def test_a_bad_new_bundle_file_is_refused_and_the_last_good_one_kept(tmp_path):
    factory = PeopleFactory(seed=4)
    root = generate_private_key("ES256")
    write_gate(tmp_path, [], factory, root)
    decider = Decider(watch_bundle(tmp_path / "bundle.json", read_root_key(tmp_path / "root.pub.pem")))
    good = decider.bundle.version
    forged = sign_bundle(build_bundle(load_pack("factory-gate"), {"feverDeci": 450}), generate_private_key("ES256"))
    (tmp_path / "bundle.json").write_text(json.dumps(forged))
    os.utime(tmp_path / "bundle.json", (time.time() + 5, time.time() + 5))
    decider.refresh()
    assert decider.bundle.version == good
    newer = sign_bundle(build_bundle(load_pack("factory-gate"), {"feverDeci": 375}), root)
    (tmp_path / "bundle.json").write_text(json.dumps(newer))
    os.utime(tmp_path / "bundle.json", (time.time() + 10, time.time() + 10))
    decider.refresh()
    assert decider.bundle.params == {"feverDeci": 375}


def test_a_missing_bundle_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nope"):
        Decider(watch_bundle(tmp_path / "nope.json", read_root_key(tmp_path / "nope.pem")))


@pytest.mark.slow
def test_with_the_hub_unreachable_the_gate_decides_and_the_outbox_keeps_every_event(tmp_path):
    from demo.processes import free_port

    from tests.agent_gate_helpers import start_simulation
    from tests.conftest import wait_until

    sim = start_simulation(tmp_path, sync={"hub_url": f"http://127.0.0.1:{free_port()}", "device_id": "d1",
                                           "interval_s": 0.2})
    try:
        assert sim.gate.sync is not None
        event = sim.present(sim.factory.person("green"))
        # Never heard from the hub: no lease, so the venue may be full (test_agent_venue.py has the rest).
        assert event.decision == "deny" and [r.rule for r in event.reasons] == ["GATE-CAP-01"]
        wait_until(lambda: any(i.attempts > 0 for i in sim.gate.store.outbox_pending()), what="a failed sync attempt")
        assert [i.event_id for i in sim.gate.store.outbox_pending()] == [event.id]
    finally:
        sim.close()
