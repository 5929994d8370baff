"""An MQTT thermometer simulator: publishes readings to a topic at an interval, on a named thread."""

from __future__ import annotations

import logging
import threading
from typing import Literal

from protocols.clock import utc_now
from protocols.thermometer_wire import encode_mqtt_payload

log = logging.getLogger(__name__)


class MqttThermometerSimulator:
    """Publishes JSON (with the time) or bare-number readings; set_temperature() changes them."""

    def __init__(self, host: str, port: int, topic: str, celsius: float = 36.6, interval_s: float = 0.25,
                 payload: Literal["json", "number"] = "json", qos: int = 1):
        self.host, self.port, self.topic = host, port, topic
        self.interval_s = interval_s
        self.payload = payload
        self.qos = qos
        self.published = 0
        self._celsius = celsius
        self._client = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set_temperature(self, celsius: float) -> None:
        """The temperature the next messages carry."""
        self._celsius = celsius

    def start(self) -> "MqttThermometerSimulator":
        """Connect and start publishing on a named thread."""
        if self._thread is not None:
            return self
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self._client.connect(self.host, self.port)
        self._client.loop_start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sim-mqtt-thermometer-{self.topic}", daemon=True)
        self._thread.start()
        return self

    def publish_raw(self, payload: bytes, retain: bool = False) -> None:
        """Publish any bytes to the topic (tests of garbage and retained messages)."""
        self._client.publish(self.topic, payload, qos=self.qos, retain=retain).wait_for_publish(5)

    def message(self, celsius: float) -> bytes:
        """The payload of one reading."""
        if self.payload == "number":
            return f"{celsius:.2f}".encode()
        return encode_mqtt_payload(celsius, utc_now())

    def _run(self) -> None:
        while not self._stop.is_set():
            self._client.publish(self.topic, self.message(self._celsius), qos=self.qos)
            self.published += 1
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        """Stop publishing and disconnect; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None

    def __enter__(self) -> "MqttThermometerSimulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
