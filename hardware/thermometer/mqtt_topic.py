"""A thermometer that publishes its readings to an MQTT topic (paho-mqtt 2.x).

paho's loop thread reconnects by itself; `connected` follows CONNACK and disconnects. A reading
carrying the device's own time ("at") is aged by it, so a retained or delayed message is stale;
a retained message without a time is of unknown age and is ignored.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Literal

from pydantic import Field

from hardware.retry import retry_open
from hardware.thermometer.base import Thermometer, ThermometerSettings
from protocols.clock import utc_now
from protocols.errors import BadReading, DeviceError
from protocols.thermometer_wire import parse_mqtt_payload


class MqttThermometerConfig(ThermometerSettings):
    """A thermometer reached through an MQTT broker topic."""

    type: Literal["mqtt"] = "mqtt"
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    topic: str  # e.g. protocols.topics' thermometer topic for this gate
    client_id: str = ""
    username: str | None = None
    password_env: str | None = None  # name of the environment variable holding the password
    keepalive_s: int = Field(30, ge=5)
    qos: Literal[0, 1] = 1
    connect_timeout_s: float = Field(5.0, gt=0)


class MqttThermometer(Thermometer):
    """Subscribes to a thermometer topic and keeps the latest reading."""

    def __init__(self, config: MqttThermometerConfig, name: str = "thermometer"):
        super().__init__(config, name)
        self.config = config
        self._client = None
        self._connack = threading.Event()
        self._refused: str | None = None
        self.bad_messages = 0

    def open(self) -> None:
        """Connect (bounded retry), subscribe, and wait for the broker's answer."""
        if self._client is not None:
            return
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2,
                             client_id=self.config.client_id, protocol=mqtt.MQTTv311)
        if self.config.username is not None:
            password = os.environ.get(self.config.password_env) if self.config.password_env else None
            client.username_pw_set(self.config.username, password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=int(self.config.max_backoff_s) or 1)
        where = f"{self.name} mqtt://{self.config.host}:{self.config.port}"
        retry_open(lambda: client.connect(self.config.host, self.config.port, self.config.keepalive_s),
                   what=where, attempts=self.config.open_attempts, delay_s=self.config.retry_delay_s, log=self.log)
        self._client = client
        client.loop_start()
        if not self._connack.wait(self.config.connect_timeout_s) or self._refused:
            self.close()
            raise DeviceError(f"{where}: broker did not accept the connection: {self._refused or 'no answer'}")

    def close(self) -> None:
        """Disconnect and stop paho's loop thread; safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._connack.clear()
        self._set_connected(False)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = str(reason_code)
            self.log.warning("%s: broker refused the connection: %s", self.name, reason_code)
            self._set_connected(False)
        else:
            self._refused = None
            client.subscribe(self.config.topic, qos=self.config.qos)
            self._set_connected(True)
        self._connack.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._set_connected(False)

    def _on_message(self, client, userdata, message) -> None:
        try:
            wire = parse_mqtt_payload(message.payload)
        except BadReading as exc:
            self.bad_messages += 1
            self.log.warning("%s: ignored a message on %s: %s", self.name, message.topic, exc.args[0])
            return
        now_mono, now_wall = time.monotonic(), utc_now()
        if wire.at is None:
            if message.retain:
                self.log.info("%s: ignored a retained reading with no time: its age is unknown", self.name)
                return
            self._record(wire.celsius, message.payload, now_mono, now_wall)
            return
        # A device clock ahead of ours would make the reading look younger than now: clamp at 0.
        age = max(0.0, (now_wall - wire.at).total_seconds())
        self._record(wire.celsius, message.payload, now_mono - age, wire.at)
