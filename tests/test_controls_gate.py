"""Daily controls at a running gate: the agent with simulated devices, syncing over HTTP with a hub that signs
the venue's schedule, decides by the hub's signed bundle and trust list. A threshold moved on the console turns
the gate's 37.4 ℃ from a re-measure into an admission; a risk area imported with dates denies a traveller only
while it is in force (not before its `from`, not after its `until`)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.people import RISK_REGION
from agent.simulation import Simulation
from protocols.bundle import build_bundle, sign_bundle
from protocols.keys import generate_private_key, save_private_key, save_public_key
from protocols.rules import load_pack
from protocols.trustlist import TrustedKey, TrustList
from tests.agent_gate_helpers import ENV
from tests.conftest import wait_until
from tests.test_console_routes import Hub, token

pytestmark = pytest.mark.slow  # a served hub and a running gate

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def test_the_days_controls_change_a_running_gates_decisions(hub_factory, tmp_path: Path, monkeypatch) -> None:
    schedule_key, root, issuer = generate_private_key(), generate_private_key("ES256"), generate_private_key("ES256")
    save_private_key(schedule_key, tmp_path / "schedule-key.pem")
    save_public_key(schedule_key, tmp_path / "schedule-pub.pem")
    save_public_key(root, tmp_path / "root-pub.pem")
    monkeypatch.setenv("CHECKPOINT_SCHEDULE_KEY", str(tmp_path / "schedule-key.pem"))
    hub = Hub(hub_factory, serve=True)
    TrustList([TrustedKey.from_public_key(issuer.public_key(), "sim-health-authority")]).save(tmp_path / "trust.json", root)
    hub.store.put_document("school1", "trustlist", (tmp_path / "trust.json").read_bytes(), "application/json")
    hub.store.put_document("school1", "bundle", json.dumps(sign_bundle(build_bundle(load_pack("school-gate")), root)).encode(),
                           "application/json")
    device, secret = hub.store.redeem_token(hub.store.create_enroll_token("school1", "north"))
    cfg = parse_config({
        "gate": {"venue": "school1", "gate": "north", "open_s": 0.3, "venue_kind": "school"},
        "store": {"path": str(tmp_path / "gate" / "agent.sqlite")},
        "camera": {"type": "simulated", "fps": 30, "seed": 7},
        "thermometer": {"type": "simulated", "interval_s": 0.05},
        "barrier": {"type": "simulated"}, "speaker": {"type": "recording"}, "kiosk": {"port": 0, "countdown_s": 0.3},
        "measure": {"rest_s": 0.6, "wait_s": 2.0, "max_age_s": 1.0},
        "presentation": {"dedupe_s": 0.5, "anti_passback_s": 60},
        "rules": {"root_public_key": str(tmp_path / "root-pub.pem"), "schedule_public_key": str(tmp_path / "schedule-pub.pem")},
        "sync": {"hub_url": hub.url, "device_id": device.id, "interval_s": 0.3,
                 "documents_dir": str(tmp_path / "gate" / "documents")},
    }, {**ENV, "CHECKPOINT_DEVICE_SECRET": secret})
    li = hub.client("li")
    page = "/console/venues/school1/controls"
    sim = Simulation(cfg, seed=9, issuer_key=issuer)

    def running(check) -> bool:
        schedule = sim.gate.loop.schedule()
        return schedule is not None and schedule.controls is not None and check(schedule.controls)

    def areas(start: dt.datetime, until: dt.datetime | None) -> None:
        ends = f"{until:%Y-%m-%d %H:%M}" if until else ""
        text = f"省份,城市,区县,风险等级,起始时间,截止时间\n上海市,,浦东新区,高风险,{start:%Y-%m-%d %H:%M},{ends}\n"
        answer = li.post(f"{page}/risk-areas", content_type="multipart/form-data",
                         data={"file": (io.BytesIO(text.encode()), "list.csv"), "csrf_token": token(li, page)})
        assert answer.status_code == 302, answer.get_data(as_text=True)
        want = (start.replace(second=0, microsecond=0), until.replace(second=0, microsecond=0) if until else None)
        assert wait_until(lambda: running(lambda c: [(a.region, a.start, a.until) for a in c.risk_areas]
                                          == [(RISK_REGION, *want)]), 20, "the gate runs the new list")

    try:
        warm = sim.present(sim.factory.person("green"), 37.4)
        assert warm.decision != "admit"  # 37.3 ℃ and more: rest and measure again
        assert li.post(page, data={"feverDeci": "37.5", "csrf_token": token(li, page)}).status_code == 302
        assert wait_until(lambda: running(lambda c: c.params == {"feverDeci": 375}), 20, "the gate runs 37.5")
        assert sim.present(sim.factory.person("green"), 37.4).decision == "admit"

        now = dt.datetime.now(SHANGHAI)
        areas(now + dt.timedelta(hours=2), None)  # not yet in force
        before = sim.present(sim.factory.person("risk_travel"))
        assert before.decision == "admit", before.reasons
        areas(now - dt.timedelta(days=1), now + dt.timedelta(days=1))  # in force
        during = sim.present(sim.factory.person("risk_travel"))
        assert during.decision == "deny" and "GATE-TRAVEL-01" in [r.rule for r in during.reasons]
        areas(now - dt.timedelta(days=2), now - dt.timedelta(minutes=5))  # ended
        after = sim.present(sim.factory.person("risk_travel"))
        assert after.decision == "admit", after.reasons
    finally:
        sim.close()
