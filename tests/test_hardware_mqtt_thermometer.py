"""The MQTT thermometer driver against a real Mosquitto broker, fed by the MQTT simulator."""

from __future__ import annotations

import datetime as dt
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hardware.thermometer.mqtt_topic import MqttThermometer, MqttThermometerConfig
from hardware.thermometer.simulated_mqtt import MqttThermometerSimulator
from protocols import topics
from protocols.errors import DeviceError
from protocols.thermometer_wire import encode_mqtt_payload
from demo.processes import free_port
from tests.conftest import wait_until

TOPIC = topics.thermometer("venue-1", "gate-east")


@pytest.fixture
def thermo(mosquitto):
    """An MQTT thermometer connected to the test broker, closed after the test."""
    device = MqttThermometer(MqttThermometerConfig(host=mosquitto.host, port=mosquitto.port, topic=TOPIC,
                                                   max_backoff_s=1, calibration_offset_c=0.0))
    device.open()
    yield device
    device.close()


@pytest.mark.slow
@pytest.mark.parametrize("payload", ["json", "number"])
def test_readings_arrive_through_a_real_broker(mosquitto, thermo, payload):
    with MqttThermometerSimulator(mosquitto.host, mosquitto.port, TOPIC, celsius=36.7, interval_s=0.05,
                                  payload=payload) as sim:
        assert wait_until(lambda: thermo.latest() is not None)
        assert thermo.latest().celsius == 36.7 and thermo.connected
        sim.set_temperature(38.1)
        assert wait_until(lambda: thermo.latest().celsius == 38.1)
        assert thermo.latest().plausible


def test_mqtt_readings_are_calibrated_and_flagged_like_serial_ones(mosquitto):
    config = MqttThermometerConfig(host=mosquitto.host, port=mosquitto.port, topic=TOPIC, calibration_offset_c=-0.5)
    with MqttThermometer(config) as thermo, MqttThermometerSimulator(mosquitto.host, mosquitto.port, TOPIC,
                                                                     celsius=37.1, interval_s=0.05) as sim:
        assert wait_until(lambda: thermo.latest() is not None)
        assert thermo.latest().celsius == 36.6 and thermo.latest().plausible
        sim.set_temperature(25.0)  # aimed at a sleeve
        assert wait_until(lambda: thermo.latest().celsius == 24.5)
        assert thermo.latest().out_of_range


def test_garbage_messages_are_counted_and_ignored(mosquitto, thermo):
    sim = MqttThermometerSimulator(mosquitto.host, mosquitto.port, TOPIC, interval_s=3600).start()
    try:
        assert wait_until(lambda: thermo.latest() is not None)
        before = thermo.latest()
        for junk in (b"hot", b'{"celsius": true}', b"\xff" * 3000, b"NaN"):
            sim.publish_raw(junk)
        assert wait_until(lambda: thermo.bad_messages == 4)
        assert thermo.latest() is before
    finally:
        sim.stop()


@pytest.mark.slow
def test_old_and_timeless_retained_readings_are_never_fresh(mosquitto):
    config = MqttThermometerConfig(host=mosquitto.host, port=mosquitto.port, topic=TOPIC)
    pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    try:
        old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
        pub.publish(TOPIC, encode_mqtt_payload(36.6, old), qos=1, retain=True).wait_for_publish(5)
        late = MqttThermometer(config, name="late")
        late.open()
        try:
            assert wait_until(lambda: late.last_reading() is not None)
            assert late.latest(max_age_s=5) is None  # ten minutes old by the device's clock
            assert late.last_reading().at_wallclock == old
        finally:
            late.close()
        pub.publish(TOPIC, b"36.6", qos=1, retain=True).wait_for_publish(5)
        blind = MqttThermometer(config, name="blind")
        blind.open()
        try:
            time.sleep(0.3)
            assert blind.last_reading() is None  # a retained bare number has no age: ignored
        finally:
            blind.close()
    finally:
        pub.loop_stop()
        pub.disconnect()


@pytest.mark.slow
def test_broker_loss_shows_disconnected_and_reconnects(mosquitto, thermo):
    assert thermo.connected
    mosquitto.stop()
    assert wait_until(lambda: not thermo.connected)
    mosquitto.restart()
    assert wait_until(lambda: thermo.connected, timeout=10)
    with MqttThermometerSimulator(mosquitto.host, mosquitto.port, TOPIC, celsius=36.9, interval_s=0.05):
        assert wait_until(lambda: thermo.latest() is not None and thermo.latest().celsius == 36.9)


def test_no_broker_fails_open_after_bounded_retries():
    thermo = MqttThermometer(MqttThermometerConfig(port=free_port(), topic=TOPIC, open_attempts=2,
                                                   retry_delay_s=0.01))
    with pytest.raises(DeviceError, match="2 attempts"):
        thermo.open()
    assert not thermo.connected
