"""The gate's MQTT link: retained status with a last will `offline`, events out at QoS 1, acks and notices in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from protocols import topics

log = logging.getLogger(__name__)


class MqttLink:
    """One gate's connection to the broker, logged in with its device credential."""

    def __init__(self, host: str, port: int, venue: str, gate: str, username: str, password: str,
                 on_ack: Callable[[list[str]], None], on_notice: Callable[[dict[str, str]], None],
                 on_command: Callable[[topics.CommandMessage], None] | None = None):
        self.host, self.port, self.venue, self.gate = host, port, venue, gate
        self.on_ack, self.on_notice, self.on_command = on_ack, on_notice, on_command
        self.connected = False
        # The broker keys sessions by login (use_username_as_clientid): asking for the login as the id says so,
        # where `gate-{venue}-{gate}` was an id anyone could guess and take over.
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username, clean_session=True)
        self.client.username_pw_set(username, password)
        self.client.will_set(topics.status(venue, gate), topics.OFFLINE, qos=1, retain=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background (paho retries until the broker is there)."""
        self.client.connect_async(self.host, self.port, keepalive=15)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        if reason_code.is_failure:
            # A refused login is not a connection (frigate's mistake): stay disconnected, say why.
            log.warning("broker refused gate %s/%s: %s", self.venue, self.gate, reason_code)
            self.connected = False
            return
        self.connected = True
        client.subscribe([(topics.ack(self.venue, self.gate), 1), (topics.notice(self.venue, self.gate), 1),
                          (topics.command(self.venue, self.gate), 1)])
        client.publish(topics.status(self.venue, self.gate), topics.ONLINE, qos=1, retain=True)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        self.connected = False
        log.info("gate %s/%s disconnected from broker: %s", self.venue, self.gate, reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            parsed = topics.parse(msg.topic)
            if parsed.channel is topics.Channel.ACK:
                self.on_ack(topics.AckMessage.model_validate_json(msg.payload).ids)
            elif parsed.channel is topics.Channel.NOTICE:
                self.on_notice(topics.NoticeMessage.model_validate_json(msg.payload).versions)
            elif parsed.channel is topics.Channel.COMMAND:
                command = topics.CommandMessage.model_validate_json(msg.payload)
                log.info("command %s for %s/%s: %s", command.id, self.venue, self.gate, command.command)
                if self.on_command is not None:
                    self.on_command(command)
        except (topics.TopicError, ValidationError) as exc:
            log.warning("ignored a malformed message on %s: %s", msg.topic, str(exc)[:200])

    def publish_event(self, payload: str) -> bool:
        """Queue one event (its GateEvent JSON as the outbox stores it) at QoS 1; False when the client cannot take it now."""
        info = self.client.publish(topics.events(self.venue, self.gate), payload, qos=1)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def reply(self, command_id: str, ok: bool, detail: str = "", result: topics.ReplayResult | None = None) -> bool:
        """Answer one command on the reply topic (QoS 1), a replay with its figures; False when the client cannot
        take it now."""
        body = topics.ReplyMessage(id=command_id, ok=ok, detail=detail[:500], result=result).model_dump_json()
        return self.client.publish(topics.reply(self.venue, self.gate), body, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    def stop(self) -> None:
        """Say `stopped` (retained) and disconnect cleanly."""
        if self.connected:
            try:
                self.client.publish(topics.status(self.venue, self.gate), topics.STOPPED, qos=1,
                                    retain=True).wait_for_publish(2)
            except (RuntimeError, ValueError) as exc:  # the broker went away meanwhile: the will says offline
                log.info("could not say stopped: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
