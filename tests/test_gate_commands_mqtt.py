"""Commands to a gate end to end: a real Mosquitto with the hub's ACL, the hub's MQTT bridge, and a real
gate process (`checkpoint agent simulate`). "Open once" from the console reaches the gate, which opens
its barrier once (its relay journal says so), records a manual admit with the reason, and answers; a
command to a gate that is down times out; guard mode goes on; the gate's own figures reach the fleet page."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from agent.store import AgentStore
from demo.processes import Processes, start_mosquitto
from server.broker_files import write_broker_files
from server.mqtt_bridge import MqttBridge
from server.store_commands import COMMAND_TIMEOUT_S
from tests.conftest import wait_until
from tests.test_console_routes import Hub, token

pytestmark = pytest.mark.slow  # a broker, a bridge and a gate process

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]


def _opened(journal: Path) -> list[dict]:
    """The relay journal's openings."""
    if not journal.exists():
        return []
    return [line for line in map(json.loads, journal.read_text().splitlines()) if line["state"] == "open"]


def _command(client, gate: str, data: dict) -> str:
    answer = client.post(f"/console/venues/school1/gates/{gate}/command",
                         data={**data, "csrf_token": token(client, "/console/fleet")})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return answer.headers["Location"].rsplit("/", 1)[1]


def test_open_once_reaches_a_real_gate_which_opens_once_and_answers(hub_factory, tmp_path: Path) -> None:
    hub = Hub(hub_factory, serve=True)
    device, secret = hub.store.redeem_token(hub.store.create_enroll_token("school1", "north"))
    files = write_broker_files(hub.store, tmp_path / "broker")
    broker = start_mosquitto(tmp_path, "allow_anonymous false\nuser root\n" + files.mosquitto_conf())
    bridge = MqttBridge(hub.db, broker.host, broker.port, files.hub_user, files.hub_secret_file.read_text().strip(),
                        notice_every=0.2)
    bridge.start()
    procs = Processes()
    journal = tmp_path / "journal" / "relay.jsonl"
    try:
        # Red codes only, one person an hour: nobody the rules admit opens the barrier during the test.
        procs.start("gate", [*CLI, "agent", "simulate", "--hub", hub.url, "--venue", "school1", "--gate", "north",
                             "--device-id", device.id, "--mqtt-host", broker.host, "--mqtt-port", str(broker.port),
                             "--store", str(tmp_path / "gate" / "agent.sqlite"), "--journal-dir", str(journal.parent),
                             "--people", "0", "--pace", "3600", "--kinds", "red", "--sync-interval", "0.5"],
                    env={**os.environ, "CHECKPOINT_DEVICE_SECRET": secret, "CHECKPOINT_LOG": "WARNING",
                         "CHECKPOINT_SUBJECT_KEY": "00112233445566778899aabbccddeeff"})
        assert wait_until(lambda: hub.store.gates("school1", "north")[0]["status"] == "online", 30, "gate online")
        assert wait_until(lambda: "north" in hub.store.gate_figures("school1"), 15, "the gate's figures")
        assert _opened(journal) == []
        client = hub.client("li")
        command_id = _command(client, "north", {"command": "open", "reason": "家长接孩子 pick-up"})
        assert wait_until(lambda: hub.store.command(command_id)["ok"] is not None, COMMAND_TIMEOUT_S,
                          "the gate's reply")
        row = hub.store.command(command_id)
        assert row["ok"] == 1 and row["sent_at"] is not None
        page = client.get(f"/console/commands/{command_id}").get_data(as_text=True)
        assert 'data-state="ok"' in page
        assert wait_until(lambda: len(_opened(journal)) == 1, 5, "the barrier opened")
        time.sleep(1.0)  # and only once
        assert len(_opened(journal)) == 1
        # The gate recorded the opening as a manual admit with the reason and who asked: the reply names it.
        assert wait_until(lambda: hub.store.event_detail(row["detail"]) is not None, 10, "the opening at the hub")
        event = hub.store.event_detail(row["detail"])
        assert (event["kind"], event["decision"], event["note"], event["operator"]) == \
            ("manual", "admit", "家长接孩子 pick-up", "hub:li")
        fleet = client.get("/console/fleet").get_data(as_text=True)
        assert "闸机已执行" in fleet  # the command's result in the fleet's recent commands

        # Guard mode on: the gate answers, and its next sync's figures say so on the fleet page.
        guard = _command(client, "north", {"command": "guard_on"})
        assert wait_until(lambda: hub.store.command(guard)["ok"] == 1, COMMAND_TIMEOUT_S, "guard mode on")
        assert wait_until(lambda: hub.store.gate_figures("school1")["north"].get("guard_mode") is True, 10,
                          "guard mode in the figures")
        assert "值守模式 <span" in client.get("/console/fleet").get_data(as_text=True)

        # The gate goes down: the next command is never answered, and the console says it timed out.
        procs.procs["gate"].kill()
        procs.procs["gate"].wait(10)
        assert wait_until(lambda: hub.store.gates("school1", "north")[0]["status"] == "offline", 30, "gate offline")
        late = _command(client, "north", {"command": "open", "reason": "无人 nobody"})
        time.sleep(COMMAND_TIMEOUT_S + 0.5)
        assert client.get(f"/console/commands/{late}.json").get_json()["state"] == "timeout"
        assert 'data-state="timeout"' in client.get(f"/console/commands/{late}").get_data(as_text=True)
        assert len(_opened(journal)) == 1
    finally:
        procs.stop_all()
        bridge.stop()
        broker.stop()
    store = AgentStore(tmp_path / "gate" / "agent.sqlite", b"k" * 32)
    manual = [e for e in store.events() if e.kind == "manual"]
    store.close()
    assert len(manual) == 1 and manual[0].note == "家长接孩子 pick-up"
