"""The gate with an MQTT thermometer through a real Mosquitto broker started on a free port."""

from __future__ import annotations

import time

import pytest

from hardware.thermometer.simulated_mqtt import MqttThermometerSimulator
from protocols import topics
from tests.agent_gate_helpers import start_simulation
from tests.conftest import wait_until


@pytest.mark.slow
def test_a_reading_published_on_the_gates_topic_decides_and_garbage_does_not(tmp_path, mosquitto):
    topic = topics.thermometer("factory-1", "north-1")
    device = MqttThermometerSimulator(mosquitto.host, mosquitto.port, topic, celsius=36.3, interval_s=0.05).start()
    sim = start_simulation(tmp_path, thermometer={"type": "mqtt", "host": mosquitto.host, "port": mosquitto.port,
                                                  "topic": topic})
    try:
        wait_until(lambda: sim.gate.devices.thermometer.latest(1.0) is not None, what="a reading over MQTT")
        device.publish_raw(b"\x00\xffnot a reading")
        assert sim.present(sim.factory.person("green")).celsius == 36.3
        time.sleep(0.6)
        device.set_temperature(38.4)
        time.sleep(0.2)
        event = sim.present(sim.factory.person("green"))
        assert event.decision == "deny" and event.celsius == 38.4
        assert sim.gate.devices.thermometer.bad_messages >= 1
        # The broker goes away: the thermometer is disconnected and nobody is admitted.
        mosquitto.stop()
        wait_until(lambda: not sim.gate.devices.thermometer.connected, what="the disconnect")
        time.sleep(0.6)
        assert sim.present(sim.factory.person("green")).decision == "refer"
    finally:
        sim.close()
        device.stop()
