"""Several gates sync to a real hub (gunicorn) through a real Mosquitto; duplicates, a broker restart and
a hub killed mid-batch later, the hub holds every event exactly once and counted once."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import requests
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion

from agent.store import AgentStore
from agent.config import SyncSection
from agent.sync import SyncClient, enroll
from protocols import topics
from protocols.events import GateEvent, new_event_id
from server.cli import hub
from server.store import HubStore
from demo.processes import free_port, start_mosquitto, wait_for_port

pytestmark = pytest.mark.slow  # real processes or a browser: outside the fast loop

GATES = ["g0", "g1", "g2", "g3"]


def start_hub(db: str, port: int, broker_port: int, secret_file: Path) -> subprocess.Popen:
    """`checkpoint hub serve` with its MQTT bridge, in its own process group."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "serve", "--database", db,
         "--port", str(port), "--mqtt-host", "127.0.0.1", "--mqtt-port", str(broker_port),
         "--mqtt-password-file", str(secret_file)],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, 20)
    return proc


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the hub, its workers and its bridge at once."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    proc.wait(timeout=15)


def test_every_event_once_after_duplicates_broker_restart_and_hub_kill(tmp_path: Path, hub_database: str) -> None:
    db = hub_database
    cli = CliRunner()
    assert cli.invoke(hub, ["init", "--database", db, "--password", "quiet-harbour-lantern"]).exit_code == 0
    assert cli.invoke(hub, ["add-venue", "--database", db, "--venue", "acme", *sum((["--gate", g] for g in GATES), [])]).exit_code == 0
    directions = HubStore(db)  # each gate here both admits and lets out
    for g in GATES:
        directions.create_gate("acme", g, direction="both")
    directions.close()
    tokens = {g: cli.invoke(hub, ["enroll-token", "--database", db, "--venue", "acme", "--gate", g]).output.strip()
              for g in GATES}
    port = free_port()
    # The hub writes the broker's files after the devices enrolled; enroll through the HTTP API first.
    broker_dir = tmp_path / "broker"
    proc = subprocess.Popen([sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "serve",
                             "--database", db, "--port", str(port)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, 20)
    url = f"http://127.0.0.1:{port}"
    creds = {g: enroll(url, tokens[g]) for g in GATES}
    kill_group(proc, signal.SIGTERM)
    out = cli.invoke(hub, ["mosquitto-config", "--database", db, "--out", str(broker_dir)])
    conf = "".join(line + "\n" for line in out.output.splitlines() if not line.startswith("#"))
    broker = start_mosquitto(tmp_path, "allow_anonymous false\nuser root\n" + conf)
    proc = start_hub(db, port, broker.port, broker_dir / "hub.secret")

    stores = {g: AgentStore(tmp_path / f"{g}.db", b"k" * 32) for g in GATES}
    clients = {}
    for g in GATES:
        settings = SyncSection(hub_url=url, device_id=creds[g]["device_id"], mqtt_host="127.0.0.1", mqtt_port=broker.port,
                               documents_dir=tmp_path / f"{g}-docs", interval_s=0.3, resend_after=1.5, http_timeout=2)
        clients[g] = SyncClient(stores[g], settings, venue="acme", gate=g, secret=creds[g]["secret"])
        clients[g].start()

    recording = threading.Event()
    recording.set()
    recorded: dict[str, list[GateEvent]] = {g: [] for g in GATES}

    def gate_loop(g: str) -> None:
        i = 0
        while recording.is_set():
            kind_exit = i % 4 == 3
            e = GateEvent(id=new_event_id(), kind="exit" if kind_exit else "decision", venue="acme", gate=g,
                          at=dt.datetime.now(dt.timezone.utc), direction="out" if kind_exit else "in",
                          decision="admit" if i % 5 else "deny", subject=f"{g}-{i // 4}")
            stores[g].record(e)
            recorded[g].append(e)
            i += 1
            time.sleep(0.01)

    loops = [threading.Thread(target=gate_loop, args=(g,)) for g in GATES]
    for t in loops:
        t.start()
    try:
        time.sleep(1.5)
        broker.stop()  # gates fall back to HTTP batches
        time.sleep(1.0)
        kill_group(proc, signal.SIGKILL)  # the hub dies mid-batch
        time.sleep(0.8)
        broker.restart()
        proc = start_hub(db, port, broker.port, broker_dir / "hub.secret")
        time.sleep(1.5)
    finally:
        recording.clear()
        for t in loops:
            t.join()

    # Deliver some events again on purpose: by MQTT as the gate, and by HTTP.
    dup = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="dup-g0")
    dup.username_pw_set(creds["g0"]["device_id"], creds["g0"]["secret"])
    dup.connect("127.0.0.1", broker.port)
    dup.loop_start()
    for e in recorded["g0"][:50]:
        dup.publish(topics.events("acme", "g0"), e.model_dump_json(), qos=1).wait_for_publish(5)
    again = requests.post(f"{url}/api/v1/device/sync", headers={"Authorization": "Bearer " + creds["g1"]["secret"]},
                          json={"events": [json.loads(e.model_dump_json()) for e in recorded["g1"][:100]]}, timeout=5)
    assert again.status_code == 200 and again.json()["new"] == 0
    dup.disconnect()
    dup.loop_stop()

    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and any(stores[g].outbox_pending(1) for g in GATES):
        time.sleep(0.2)
    try:
        assert not any(stores[g].outbox_pending(1) for g in GATES), "outboxes did not drain"
        hub_store = HubStore(db)
        ids = {r["id"] for r in hub_store.access_log(venue="acme", limit=100_000)}
        all_events = [e for g in GATES for e in recorded[g]]
        assert ids == {e.id for e in all_events}
        assert hub_store.event_count() == len(all_events)
        occ = hub_store.occupancy("acme")
        admits = sum(1 for e in all_events if e.decision == "admit" and e.direction == "in")
        exits = sum(1 for e in all_events if e.kind == "exit")
        assert (occ["entries"], occ["exits"]) == (admits, exits)
    finally:
        for c in clients.values():
            c.stop()
        kill_group(proc, signal.SIGTERM)
        broker.stop()


def test_events_drain_by_mqtt_alone_and_the_gate_status_is_retained(tmp_path: Path, hub_database: str) -> None:
    db = hub_database
    cli = CliRunner()
    cli.invoke(hub, ["init", "--database", db, "--password", "quiet-harbour-lantern"])
    cli.invoke(hub, ["add-venue", "--database", db, "--venue", "acme", "--gate", "g0"])
    token = cli.invoke(hub, ["enroll-token", "--database", db, "--venue", "acme", "--gate", "g0"]).output.strip()
    device, secret = HubStore(db).redeem_token(token)
    # A second hub login for the watcher below: on the bridge's own login it would drop the bridge.
    out = cli.invoke(hub, ["mosquitto-config", "--database", db, "--out", str(tmp_path / "broker"), "--hub-processes", "2"])
    conf = "".join(line + "\n" for line in out.output.splitlines() if not line.startswith("#"))
    broker = start_mosquitto(tmp_path, "allow_anonymous false\nuser root\n" + conf)
    from server.mqtt_bridge import MqttBridge

    bridge = MqttBridge(db, "127.0.0.1", broker.port, "hub", (tmp_path / "broker" / "hub.secret").read_text().strip())
    bridge.start()
    store = AgentStore(tmp_path / "g0.db", b"k" * 32)
    # No hub HTTP server at all: an HTTP sync would fail; only MQTT acks can empty the outbox.
    settings = SyncSection(hub_url="http://127.0.0.1:9", device_id=device.id, mqtt_host="127.0.0.1",
                           mqtt_port=broker.port, documents_dir=tmp_path / "docs",
                           interval_s=600, resend_after=600, http_timeout=0.5)
    client = SyncClient(store, settings, venue="acme", gate="g0", secret=secret)
    client.start()
    try:
        for _ in range(200):
            store.record(GateEvent(id=new_event_id(), kind="decision", venue="acme", gate="g0",
                                   at=dt.datetime.now(dt.timezone.utc), decision="admit"))
        deadline = time.monotonic() + 15
        while store.outbox_pending(1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not store.outbox_pending(1)
        assert HubStore(db).event_count() == 200
        # The hub's view of the gate's availability: retained "online" now, "stopped" after a clean stop.
        seen: list[bytes] = []
        watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watch")
        watcher.username_pw_set("hub-2", (tmp_path / "broker" / "hub-2.secret").read_text().strip())
        watcher.on_message = lambda _c, _u, m: seen.append(m.payload)
        watcher.connect("127.0.0.1", broker.port)
        watcher.subscribe(topics.status("acme", "g0"), qos=1)
        watcher.loop_start()
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen[-1] == b"online"
        client.stop()
        deadline = time.monotonic() + 5
        while seen[-1] != b"stopped" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen[-1] == b"stopped"
        watcher.loop_stop()
        deadline = time.monotonic() + 5
        while HubStore(db).gates("acme", "g0")[0]["status"] != "stopped" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert HubStore(db).gates("acme", "g0")[0]["status"] == "stopped"  # the hub recorded it too
    finally:
        client.stop()
        bridge.stop()
        broker.stop()
