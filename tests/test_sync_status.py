"""A gate's retained status: `online` while connected, `offline` (its last will) when it vanishes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
import pytest

from protocols import topics

GATE = """
import sys, time
from agent.sync_mqtt import MqttLink
link = MqttLink("127.0.0.1", int(sys.argv[1]), "acme", "north", "dev", "pw", on_ack=print, on_notice=print)
link.start()
while True:
    time.sleep(1)
"""


@pytest.mark.slow
def test_a_killed_gate_is_announced_offline_by_its_last_will(mosquitto) -> None:
    seen: list[bytes] = []
    changed = threading.Condition()

    def on_message(_c, _u, msg) -> None:
        with changed:
            seen.append(msg.payload)
            changed.notify_all()

    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="watcher")
    watcher.on_message = on_message
    watcher.connect(mosquitto.host, mosquitto.port)
    watcher.subscribe(topics.status("acme", "north"), qos=1)
    watcher.loop_start()
    gate = subprocess.Popen([sys.executable, "-c", GATE, str(mosquitto.port)])
    try:
        with changed:
            assert changed.wait_for(lambda: seen and seen[-1] == b"online", timeout=10)
        gate.kill()  # no DISCONNECT: the broker must publish the will
        with changed:
            assert changed.wait_for(lambda: seen[-1] == b"offline", timeout=10)
    finally:
        gate.kill()
        gate.wait()
        watcher.loop_stop()
    # A late subscriber still learns it: the status is retained.
    late: list[bytes] = []
    other = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="late")
    other.on_message = lambda _c, _u, m: late.append(m.payload)
    other.connect(mosquitto.host, mosquitto.port)
    other.subscribe(topics.status("acme", "north"), qos=1)
    other.loop_start()
    deadline = time.monotonic() + 5
    while not late and time.monotonic() < deadline:
        time.sleep(0.05)
    other.loop_stop()
    assert late == [b"offline"]
