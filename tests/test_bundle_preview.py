"""Publishing a new rule bundle with a preview, end to end: a real Mosquitto with the hub's ACL, the hub's MQTT
bridge and two real gates (the agent with simulated devices, deciding by the hub's signed bundle and trust list).
The supervisor uploads a candidate; the hub sends each online gate a `replay` command carrying it; each gate
replays its own recorded decisions of the last day locally and answers counts and the changed decisions (no
subject, no name); the console shows them as a table; the supervisor confirms (audited) and the bundle is
published, which the gates then run."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.simulation import Simulation
from demo.processes import start_mosquitto
from protocols.bundle import build_bundle, sign_bundle
from protocols.keys import generate_private_key, save_public_key
from protocols.rules import load_pack
from protocols.topics import ReplayResult
from protocols.trustlist import TrustedKey, TrustList
from server.broker_files import write_broker_files
from server.mqtt_bridge import MqttBridge
from tests.agent_gate_helpers import ENV
from tests.conftest import wait_until
from tests.test_console_routes import Hub, token

pytestmark = pytest.mark.slow  # a broker, a bridge and two gates


def _gate(tmp_path: Path, hub, broker, name: str, device, secret: str, root_pub: Path) -> dict:
    folder = tmp_path / name
    return parse_config({
        "gate": {"venue": "school1", "gate": name, "open_s": 0.3, "venue_kind": "school"},
        "store": {"path": str(folder / "agent.sqlite")},
        "camera": {"type": "simulated", "fps": 30, "seed": 7},
        "thermometer": {"type": "simulated", "interval_s": 0.05},
        "barrier": {"type": "simulated", "journal": str(folder / "relay.jsonl")},
        "speaker": {"type": "recording"},
        "kiosk": {"port": 0, "countdown_s": 0.3},
        "measure": {"rest_s": 0.6, "wait_s": 2.0, "max_age_s": 1.0},
        "presentation": {"dedupe_s": 0.5, "anti_passback_s": 60},
        "rules": {"root_public_key": str(root_pub)},
        "sync": {"hub_url": hub.url, "device_id": device.id, "mqtt_host": broker.host, "mqtt_port": broker.port,
                 "interval_s": 0.5, "documents_dir": str(folder / "documents")},
    }, {**ENV, "CHECKPOINT_DEVICE_SECRET": secret})


def test_a_candidate_is_replayed_by_each_online_gate_shown_confirmed_and_published(hub_factory, tmp_path: Path) -> None:
    hub = Hub(hub_factory, serve=True)
    root, issuer = generate_private_key("ES256"), generate_private_key("ES256")
    save_public_key(root, tmp_path / "root-pub.pem")
    TrustList([TrustedKey.from_public_key(issuer.public_key(), "sim-health-authority")]).save(tmp_path / "trust.json", root)
    current = build_bundle(load_pack("school-gate"))
    hub.store.put_document("school1", "trustlist", (tmp_path / "trust.json").read_bytes(), "application/json")
    hub.store.put_document("school1", "bundle", json.dumps(sign_bundle(current, root)).encode(), "application/json")
    # The candidate admits students and teachers only: every staff member admitted today would be denied.
    candidate = build_bundle(load_pack("school-gate"), {"allowedClasses": ["student", "teacher"]})
    candidate_doc = json.dumps(sign_bundle(candidate, root)).encode()
    devices = {name: hub.store.redeem_token(hub.store.create_enroll_token("school1", name)) for name in ("north", "south")}
    files = write_broker_files(hub.store, tmp_path / "broker")
    broker = start_mosquitto(tmp_path, "allow_anonymous false\nuser root\n" + files.mosquitto_conf())
    bridge = MqttBridge(hub.db, broker.host, broker.port, files.hub_user, files.hub_secret_file.read_text().strip(),
                        notice_every=0.2)
    bridge.start()
    sims: dict[str, Simulation] = {}
    try:
        for seed, (name, (device, secret)) in enumerate(devices.items(), start=3):  # other seeds: other people
            sims[name] = Simulation(_gate(tmp_path, hub, broker, name, device, secret, tmp_path / "root-pub.pem"),
                                    seed=seed * 7, issuer_key=issuer)
        for name in ("north", "south"):
            assert wait_until(lambda: hub.store.gates("school1", name)[0]["status"] == "online", 30, f"{name} online")
        north, south = sims["north"], sims["south"]
        decided = [north.present(north.factory.person("green")), north.present(north.factory.person("green")),
                   north.present(north.factory.person("red")), south.present(south.factory.person("green"))]
        assert [e.decision for e in decided] == ["admit", "admit", "deny", "admit"], [e.reasons for e in decided]
        assert {e.bundle_version for e in decided} == {current.version}

        li = hub.client("li")
        upload = li.post("/console/venues/school1/controls/bundle", content_type="multipart/form-data",
                         data={"file": (io.BytesIO(candidate_doc), "candidate.json"),
                               "csrf_token": token(li, "/console/venues/school1/controls")})
        assert upload.status_code == 302, upload.get_data(as_text=True)
        page_path = upload.headers["Location"]
        preview_id = page_path.rsplit("/", 1)[1]
        assert wait_until(lambda: all(r["ok"] is not None for r in hub.store.preview_replies(preview_id)), 60,
                          "both gates' replays")
        replies = {r["gate"]: r for r in hub.store.preview_replies(preview_id)}
        assert set(replies) == {"north", "south"} and all(r["ok"] == 1 for r in replies.values())
        results = {gate: ReplayResult.model_validate_json(r["detail"]) for gate, r in replies.items()}
        assert (results["north"].replayed, results["north"].changed) == (3, 2)
        assert (results["south"].replayed, results["south"].changed) == (1, 1)
        for change in results["north"].changes + results["south"].changes:
            assert (change.was, change.now) == ("admit", "deny") and "GATE-CLASS-01" in change.rules
        # Nothing personal crossed: no subject hash, no masked name, no event id in what the gates answered.
        answered = " ".join(r["detail"] for r in replies.values())
        for event in decided:
            assert event.subject not in answered and event.id not in answered
            assert not event.name or event.name not in answered

        page = li.get(page_path).get_data(as_text=True)
        assert page.count('data-state="ok"') == 2 and "confirm-publish" in page
        assert len(re.findall(r'<td data-label="新结果 Now" class="deny">', page)) == 3
        assert "GATE-CLASS-01" in page and candidate.version in page
        assert hub.audit()[0]["action"] == "bundle.preview"

        confirm = li.post(f"{page_path}/publish", data={"csrf_token": token(li, page_path)})
        assert confirm.status_code == 302
        row = hub.audit()[0]
        assert row["action"] == "bundle.publish" and row["venue"] == "school1"
        assert row["target"].startswith(f"{current.version}→{candidate.version}") and "changed 3" in row["target"]
        assert json.loads(bytes(hub.store.document("school1", "bundle")["body"]))["body"]["version"] == candidate.version
        assert "published" in li.get(page_path).get_data(as_text=True)
        assert li.post(f"{page_path}/publish", data={"csrf_token": token(li, page_path)}).status_code == 409
        # The gates fetch it and decide by it: the next staff member is denied by class.
        assert wait_until(lambda: north.gate.loop.decider.bundle.version == candidate.version
                          if north.gate.loop.decider.refresh() is None else False, 30, "the gate runs the candidate")
        after = north.present(north.factory.person("green"))
        assert after.decision == "deny" and "GATE-CLASS-01" in [r.rule for r in after.reasons]

        # Another venue's supervisor cannot see or confirm the preview.
        assert li.get(f"/console/venues/factory1/previews/{preview_id}").status_code == 403
    finally:
        for sim in sims.values():
            sim.close()
        bridge.stop()
        broker.stop()
