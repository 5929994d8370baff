"""The hub's MQTT side: events in (QoS 1, batched into the store), acks out, retained notices out,
the console's commands out and the gates' replies in (rows of `gate_commands`, server/store_commands.py).

A separate process from the WSGI workers (`checkpoint hub bridge`), logged in as the hub's own
broker account (one account per hub process: the broker keys sessions by login, see
`server/broker_files.py`). A message is trusted as coming from the gate its topic names only because the
broker's ACL lets each device publish under its own gate alone; the event's venue and gate must
match the topic too.

Several hub processes (issue 13): each bridge subscribes to the gates' events and status with an MQTT 5
shared subscription (`$share/hub/...`, `topics.shared`), so the broker hands each message to one bridge
of the group and each event is stored by one hub (a message sent again, or a resend over HTTP, is still
stored once: ingest is ON CONFLICT DO NOTHING by event id). Acknowledgements go out from the bridge that
stored the event; every bridge publishes the retained notices (same versions, same payload: a notice
published twice is the same notice), so every gate still hears its notice and commands. MQTT 5 hands
no retained message to a shared subscription: a gate's last status is heard when it next changes
(its HTTP syncs keep `last_seen` meanwhile).

No one message or row may stop a thread: a bad message is dropped, a bad row skipped, a failed
batch left unacknowledged (the gates resend it), each logged, and the thread carries on.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from protocols import topics
from protocols.events import GateEvent
from server.alert_delivery import AlertWorker, MailServer
from server.store import HubStore

log = logging.getLogger(__name__)
BATCH = 500
# How long the broker keeps a bridge's session (its subscriptions, its queued QoS 1 messages) while it
# is away: a day, as MQTT 3's clean_session=False kept it (Mosquitto's persistent_client_expiration aside).
SESSION_EXPIRY_S = 86_400


class MqttBridge:
    """Subscribes to every gate's events, stores them once, acknowledges them, publishes notices."""

    def __init__(self, db_path: Path | str, host: str, port: int, username: str | None = None,
                 password: str | None = None, client_id: str | None = None, notice_every: float = 1.0,
                 alerts: bool = True, mail: MailServer | None = None, alert_every: float = 0.5):
        self.db_path = db_path
        self.host, self.port = host, port
        self.notice_every = notice_every
        self.inbox: queue.Queue[GateEvent] = queue.Queue()
        self._stop = threading.Event()
        self._published: dict[tuple[str, str], dict[str, str]] = {}
        self.stored = 0
        self.received = 0  # events taken off the broker (with the shared subscription: this bridge's share)
        self.disconnects = 0
        self._bad_gates: set[tuple[str, str]] = set()  # logged once, skipped after
        # The broker uses the login as the client id anyway (use_username_as_clientid); asking for
        # the same keeps the persistent session under one name on any broker.
        client_id = client_id or username or "checkpoint-hub"
        # MQTT 5 for shared subscriptions; clean_start=False with a session expiry (in `start`): the broker
        # keeps our subscription and queues QoS 1 while we are away.
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self._threads = [threading.Thread(target=self._write_loop, name="bridge-writer", daemon=True),
                         threading.Thread(target=self._notice_loop, name="bridge-notices", daemon=True)]
        # Alerts go out from here: this process holds the hub's broker connection (server/alert_delivery.py).
        self.alerts = AlertWorker(db_path, self.publish_confirmed, mail if mail is not None else MailServer.from_env(),
                                  every=alert_every) if alerts else None

    def start(self) -> None:
        """Connect and start the writer and notice threads."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(self.host, self.port, keepalive=15, clean_start=False, properties=props)
        self.client.loop_start()
        for t in self._threads:
            t.start()
        if self.alerts is not None:
            self.alerts.start()

    def stop(self) -> None:
        """Stop the threads and disconnect."""
        self._stop.set()
        if self.alerts is not None:
            self.alerts.stop()
        for t in self._threads:
            t.join(timeout=10)
        self.client.disconnect()
        self.client.loop_stop()

    def publish_confirmed(self, topic: str, payload: str, timeout: float = 5.0) -> bool:
        """Publish at QoS 1 and wait for the broker's PUBACK; False when not connected or not acknowledged."""
        if not self.client.is_connected():
            return False
        info = self.client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError):  # paho: not queued (disconnected meanwhile)
            return False
        return info.is_published()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if reason_code.is_failure:
            log.error("broker refused the hub bridge: %s", reason_code)
            return
        client.subscribe([(topics.shared(topics.all_gates(topics.Channel.EVENTS)), 1),
                          (topics.shared(topics.all_gates(topics.Channel.STATUS)), 1),
                          (topics.shared(topics.all_gates(topics.Channel.REPLY)), 1)])
        self._published.clear()  # a restarted broker without persistence lost the retained notices
        log.info("hub bridge connected to %s:%s", self.host, self.port)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        self.disconnects += 1
        # "session taken over" here means another client used this login: give each hub process its own.
        log.warning("hub bridge disconnected from the broker: %s", reason_code)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        # paho re-raises a callback's exception in its network thread, which then ends: the bridge
        # would hear nothing more. Whatever one message does, it costs that message only.
        try:
            self._take(msg)
        except Exception:  # noqa: BLE001 - the thread must outlive any one message
            log.exception("dropped a message on %s that the bridge could not handle", msg.topic)

    def _take(self, msg: mqtt.MQTTMessage) -> None:
        try:
            where = topics.parse(msg.topic)
            if where.channel is topics.Channel.STATUS:
                self._status(where, msg.payload)
                return
            if where.channel is topics.Channel.REPLY:
                self._reply(where, topics.ReplyMessage.model_validate_json(msg.payload))
                return
            event = GateEvent.model_validate_json(msg.payload)
        except (topics.TopicError, ValidationError) as exc:
            log.warning("dropped a malformed event on %s: %s", msg.topic, str(exc)[:200])
            return
        if (event.venue, event.gate) != (where.venue, where.gate):
            log.warning("dropped an event for %s/%s published on %s", event.venue, event.gate, msg.topic)
            return
        self.received += 1
        self.inbox.put(event)

    def _status(self, where: topics.GateTopic, payload: bytes) -> None:
        status = payload.decode("utf-8", "replace")
        if status not in (topics.ONLINE, topics.OFFLINE, topics.STOPPED):
            log.warning("ignored status %r of %s/%s", status[:20], where.venue, where.gate)
            return
        try:
            store = HubStore(self.db_path)  # paho's thread: its own short-lived connection (status is rare)
            try:
                store.set_gate_status(where.venue, where.gate, status)
                if status == topics.OFFLINE:  # the gate's last will: the offline alert now, not at the next check
                    store.check_alerts()
            finally:
                store.close()
        except (SQLAlchemyError, OSError) as exc:  # OSError: the store's lock file (HubStore opens it)
            log.error("could not record the status of %s/%s: %s", where.venue, where.gate, exc)

    def _reply(self, where: topics.GateTopic, reply: topics.ReplyMessage) -> None:
        try:
            store = HubStore(self.db_path)  # paho's thread, like a status: replies are rare
            try:
                # A replay's figures are kept as its detail (JSON): they name no one, only times, decisions, rules.
                detail = reply.result.model_dump_json() if reply.result is not None else reply.detail
                if not store.answer_command(where.venue, where.gate, reply.id, reply.ok, detail):
                    log.warning("ignored a reply from %s/%s to command %s, not its own or answered",
                                where.venue, where.gate, reply.id[:64])
            finally:
                store.close()
        except (SQLAlchemyError, OSError) as exc:
            log.error("could not record the reply of %s/%s: %s", where.venue, where.gate, exc)

    def _publish_commands(self, store: HubStore) -> None:
        """Publish the console's queued commands (QoS 1, not retained: a gate that is away never runs a stale one)."""
        for row in store.unsent_commands():
            candidate = None
            if row["command"] == "replay":  # the candidate bundle goes with the command: the gate replays it locally
                preview = store.preview(row["reason"] or "")
                candidate = json.loads(bytes(preview["body"])) if preview is not None else None
            message = topics.CommandMessage(command=row["command"], id=row["id"], reason=row["reason"],
                                            by=row["requested_by"][:64], bundle=candidate)
            self.client.publish(topics.command(row["venue"], row["gate"]), message.model_dump_json(exclude_none=True),
                                qos=1)
            store.mark_command_sent(row["id"])

    def _drain(self) -> list[GateEvent]:
        try:
            batch = [self.inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < BATCH:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        store = HubStore(self.db_path)
        try:
            while not self._stop.is_set():
                batch = self._drain()
                if not batch:
                    continue
                try:
                    self._store_and_ack(store, batch)
                except Exception as exc:  # noqa: BLE001 - the writer must outlive any one batch
                    # Not acknowledged: the gates send these again (also over HTTP) and the hub dedups them then.
                    log.error("could not store %d events: %s", len(batch), exc, exc_info=not isinstance(exc, SQLAlchemyError))
        finally:
            store.close()

    def _store_and_ack(self, store: HubStore, batch: list[GateEvent]) -> None:
        result = store.ingest(batch)
        self.stored += result.new
        by_gate: dict[tuple[str, str], list[str]] = defaultdict(list)
        held = set(result.acked)  # a refused event is not acknowledged: the gate's HTTP resend hears why
        for e in batch:
            if e.id in held:
                by_gate[(e.venue, e.gate)].append(e.id)
        for (venue, gate), ids in by_gate.items():
            self.client.publish(topics.ack(venue, gate), topics.AckMessage(ids=ids).model_dump_json(), qos=1)

    def _notice_loop(self) -> None:
        store = HubStore(self.db_path)
        try:
            while not self._stop.wait(self.notice_every):
                if not self.client.is_connected():
                    continue
                try:
                    self._publish_commands(store)
                    self._publish_notices(store)
                except Exception as exc:  # noqa: BLE001 - the notices must outlive a bad round (a locked database)
                    log.error("could not publish notices this round: %s", exc, exc_info=not isinstance(exc, SQLAlchemyError))
        finally:
            store.close()

    def _publish_notices(self, store: HubStore) -> None:
        versions = store.all_versions()
        for venue, gate in store.all_gates():
            current = versions.get(venue, {})
            if self._published.get((venue, gate)) == current or (venue, gate) in self._bad_gates:
                continue
            try:
                topic = topics.notice(venue, gate)
            except topics.TopicError as exc:
                # A row made before the CLI checked ids: it has no topic, so no gate can hear it anyway.
                log.error("no notice for a gate whose id is no topic segment: %s", exc)
                self._bad_gates.add((venue, gate))
                continue
            self.client.publish(topic, topics.NoticeMessage(versions=current).model_dump_json(), qos=1, retain=True)
            self._published[(venue, gate)] = current
