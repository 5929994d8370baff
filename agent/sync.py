"""The gate's sync client: drains the outbox to the hub, fetches documents, keeps the quota lease,
and keeps the venue's presence changes at other gates (anti-passback across gates).

Events go by MQTT QoS 1 when a broker is configured (fast path) and by HTTP batches (fallback,
and the bulk path after an outage). An event leaves the outbox only when the hub acknowledges it
(MQTT `ack` topic or the HTTP answer), never on a broker PUBACK: a broker that restarts without
persistence would lose it. Unacknowledged events go again; the hub deduplicates by event id.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from pydantic import BaseModel, ValidationError

from agent.backoff import Backoff, parse_retry_after
from agent.config import SyncSection
from agent.documents import DocumentCache, GateDocuments
from agent.sync_mqtt import MqttLink
from agent.store import AgentStore
from agent.trusted_clock import TrustedClock
from protocols import contract, topics
from protocols.contract import (DocumentKind, EnrollRequest, EnrollResponse, GateFigures, LeaseRequest, LeaseResponse,
                                SyncRequest, SyncResponse, wire, wire_json)
from protocols.errors import CheckpointError

log = logging.getLogger(__name__)
Answer = TypeVar("Answer", bound=BaseModel)


class SyncError(CheckpointError):
    """The hub could not be reached or refused a sync call."""

    reason = "sync_failed"


class SyncTooLarge(SyncError):
    """The hub refused a sync call as too large (413): the batch goes again in halves."""

    reason = "sync_too_large"


class SyncBusy(SyncError):
    """The hub shed the call (429/503, overloaded): try again after `retry_after_s` (None: the hub named no
    usable time); nothing was lost, the outbox keeps the events."""

    reason = "sync_busy"

    def __init__(self, message: str, retry_after_s: float | None):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SyncUnreachable(SyncError):
    """The hub did not answer (refused connection, timeout): the gate backs off, doubling each time."""

    reason = "sync_unreachable"


class SyncEncodingRefused(SyncError):
    """The hub could not read a compressed sync call (a hub from before compression): it goes again plain."""

    reason = "sync_encoding_refused"


def _too_many_events(answer: requests.Response) -> bool:
    """A 422 whose details name the batch's `events` list as too long (a hub from before the 413 answer)."""
    try:
        details = answer.json()["error"]["details"]
        return any(d["loc"] == ["events"] and "at most" in d["msg"] for d in details)
    except (ValueError, KeyError, TypeError):
        return False


def _parse(answer: requests.Response, model: type[Answer], route: str) -> Answer:
    """The hub's answer as the contract's model; anything else (not JSON, not that shape) is a SyncError."""
    try:
        return model.model_validate_json(answer.content)
    except ValidationError as exc:  # a proxy's error page, a truncated or foreign answer
        raise SyncError(f"hub answered {route} with something that is not a {model.__name__}") from exc


def enroll(hub_url: str, token: str, timeout: float = 10.0) -> dict[str, Any]:
    """Spend a one-time enrollment token: the device's id, secret, venue and gate (an EnrollResponse's fields)."""
    try:
        answer = requests.post(hub_url.rstrip("/") + contract.path(contract.ENROLL),
                               json=wire(EnrollRequest(token=token)), timeout=timeout)
    except requests.RequestException as exc:
        raise SyncError(f"hub unreachable: {exc}") from exc
    if answer.status_code != 201:
        raise SyncError(f"enrollment refused: {answer.status_code} {answer.text[:200]}")
    return wire(_parse(answer, EnrollResponse, contract.ENROLL))


class Lease:
    """The places this gate may still admit without asking the hub; safe to use offline.

    `counting` is held by the loop from take() until the admission is in the store, and by a
    renewal while it counts the unsynced admissions: so every place spent is either in that count
    or taken after it (and subtracted from the new grant), never lost between the two.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counting = threading.RLock()
        self.remaining = 0
        self.cap: int | None = None
        self.known = False  # False until the hub answered once: a capped venue cannot be assumed empty
        self.taken = 0  # places spent since start (a renewal subtracts those spent while it was asked)

    def take(self) -> bool:
        """Spend one place if the lease has one (call before admitting); False means the venue is full."""
        with self._lock:
            if self.known and self.cap is None:
                return True
            if self.remaining <= 0:
                return False
            self.remaining -= 1
            self.taken += 1
            return True

    def restore(self, cap: int | None, remaining: int) -> None:
        """Start from the lease kept in the store (the hub still holds it for this gate)."""
        with self._lock:
            self.cap, self.remaining, self.known = cap, max(0, remaining), True

    def set(self, answer: dict[str, Any], taken_before: int | None = None) -> None:
        """Adopt the hub's answer to a renewal; places taken since `taken_before` come off the grant."""
        with self._lock:
            spent_since = 0 if taken_before is None else self.taken - taken_before
            self.remaining = max(0, int(answer["grant"]) - spent_since)
            self.cap, self.known = answer.get("cap"), True


class SyncClient:
    """Drains one gate's outbox to the hub and keeps its documents and lease current."""

    def __init__(self, store: AgentStore, settings: SyncSection, *, venue: str, gate: str, secret: str,
                 presence_window_s: float = 60.0, documents: DocumentCache | None = None,
                 clock: TrustedClock | None = None, direction: str = "in"):
        """settings: the config's [sync]; the gate's ids and its secret (from the environment, never a file);
        presence_window_s: the anti-passback window, other gates' entries and exits this recent come with
        each sync (0: none); documents: the installer that checks what is fetched (default: unchecked);
        clock: the gate's trusted time, anchored to the hub's time of each sync answer;
        direction: "out" for an exit gate, which admits nobody in and so asks for no places."""
        self.store = store
        self.settings = settings
        # An exit gate holding a share of the cap kept it from the entry gates, and nothing used it.
        self.wants_places = direction != "out" and settings.lease_want > 0
        self.venue, self.gate, self.secret = venue, gate, secret
        self.presence_window_s = presence_window_s
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {secret}"
        self.documents = documents if documents is not None else DocumentCache(settings.documents_dir)
        self.clock = clock
        self.lease = Lease()
        kept = store.lease_left()
        if kept is not None:
            self.lease.restore(*kept)
        self.mqtt: MqttLink | None = None
        self._in_flight: dict[str, float] = {}  # event id -> when published by MQTT
        self._published_upto = ""  # the newest event id published by MQTT (the publisher's cursor)
        self._plain = False  # the hub could not read a compressed batch: this client sends plain ones
        self._batch = settings.batch  # events per sync call; smaller after the hub answered one too large
        self._fetch_wanted = threading.Event()
        # The gate's own figures for each sync (build_gate sets it to the loop's), and how an "open"
        # command reaches the loop: open_once(reason, by, done) queues a manual admit, done(event or None).
        self.figures: Callable[[], GateFigures] | None = None
        self.open_once: Callable[[str, str, Callable[[Any], None]], None] | None = None
        self.guard_mode: Callable[[bool], None] | None = None  # guard_on / guard_off: build_gate sets the loop's
        # replay: the candidate bundle document -> the replay's figures (agent/preview.py; build_gate sets it).
        self.replay: Callable[[dict[str, Any] | None], topics.ReplayResult] | None = None
        # The events the hub confirmed it holds an alert for (the kiosk's "reported"): build_gate sets the loop's.
        self.alerted: Callable[[list[str]], None] | None = None
        self._answered = False  # the last HTTP call to the hub got an answer
        self._commands: queue.Queue[topics.CommandMessage] = queue.Queue()  # MQTT thread in, sync thread out
        self._stop = threading.Event()
        # Set by urgent() (and stop()): the sync thread stops waiting for its interval.
        self._urgent = threading.Event()
        self._thread: threading.Thread | None = None
        # When the next round may call the hub: after a 503 its Retry-After, after timeouts a back-off.
        self.backoff = Backoff(settings.interval_s)
        self.not_before = 0.0  # time.monotonic()

    @property
    def online(self) -> bool:
        """True while the hub answers: the last HTTP call got an answer, or the MQTT link is up."""
        return self._answered or (self.mqtt is not None and self.mqtt.connected)

    def _url(self, route: str, **values: str) -> str:
        return self.settings.hub_url.rstrip("/") + contract.path(route, **values)

    def _post(self, route: str, body: BaseModel | bytes, model: type[Answer], encoding: str | None = None) -> Answer:
        data = body if isinstance(body, bytes) else json.dumps(wire(body), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json"}
        if encoding is not None:
            data = contract.compress_body(data, encoding)
            headers["Content-Encoding"] = encoding
        try:
            answer = self.http.post(self._url(route), data=data, headers=headers, timeout=self.settings.http_timeout)
        except requests.RequestException as exc:
            self._answered = False
            raise SyncUnreachable(f"hub unreachable: {exc}") from exc
        self._answered = True
        if answer.status_code in (429, 503):
            retry = parse_retry_after(answer.headers.get("Retry-After"))
            raise SyncBusy(f"hub busy ({answer.status_code}), retry after {answer.headers.get('Retry-After')!r}", retry)
        if answer.status_code == 413 or (answer.status_code == 422 and _too_many_events(answer)):
            # 413: more events or bytes than the hub takes; 422 on `events`: a hub from before 413 said so.
            raise SyncTooLarge(f"hub refused {route} as too large: {answer.text[:200]}")
        if encoding is not None and answer.status_code in (415, 422):
            # 415: a hub that knows no such encoding; 422: one from before compression parsed the gzip bytes.
            raise SyncEncodingRefused(f"hub could not read {route} as {encoding}: {answer.status_code}")
        if answer.status_code != 200:
            raise SyncError(f"hub refused {route}: {answer.status_code} {answer.text[:200]}")
        return _parse(answer, model, route)

    # ---- HTTP ----------------------------------------------------------------------------------

    def sync_http(self, only_stale: bool = False) -> int:
        """Send pending events in batches (only those unacked too long when `only_stale`); return how many were acked."""
        acked_total = 0
        sent_any = False
        now = time.monotonic()
        # A batch the hub finds too large (413: more events than it takes, or it inflates past its bound)
        # goes again as half, down to one event, and later batches stay that size; a batch it cannot
        # read compressed goes again plain, and so does every later one.
        encoding = None if self.settings.compress == "none" or self._plain else self.settings.compress
        while True:
            size = self._batch
            rows = self.store.outbox_rows(limit=size if not only_stale else 10_000)
            if only_stale:
                rows = [r for r in rows if now - self._in_flight.get(r[0], -1e9) > self.settings.resend_after][:size]
            if not rows and sent_any:
                break
            ids = [r[0] for r in rows]
            sent = time.monotonic() if self.clock is None else self.clock.monotonic()
            try:
                answer = self._post(contract.DEVICE_SYNC, self._sync_body([r[1] for r in rows]), SyncResponse, encoding)
            except SyncTooLarge as exc:
                if len(rows) > 1:
                    self._batch = max(1, len(rows) // 2)
                    log.warning("%s; sending batches of %d", exc, self._batch)
                    continue
                self.store.mark_failed(ids, str(exc))
                raise
            except SyncEncodingRefused as exc:
                log.warning("%s; sending uncompressed from now on", exc)
                encoding, self._plain = None, True
                continue
            except SyncBusy:
                raise  # not a failed delivery: the hub asked for later, the events wait in the outbox as they are
            except SyncError as exc:
                self.store.mark_failed(ids, str(exc))
                raise
            if self.clock is not None and answer.hub_time is not None:
                self.clock.anchor(answer.hub_time, sent, self.clock.monotonic())
            sent_any = True
            self.store.mark_sent(answer.acked)
            if answer.conflicts:
                # Acked all the same: the hub holds the first event of each id and keeps it.
                log.warning("hub already held events %s with other content (kept the first)", ", ".join(answer.conflicts))
            if answer.refused:
                # The hub will never take these: resending would keep them in the outbox forever. The
                # gate's own record of each stays; the log says why it did not reach the hub.
                for r in answer.refused:
                    log.warning("hub refused event %s (%s): %s", r.id, r.reason, r.message)
                self.store.mark_sent([r.id for r in answer.refused])
            for event_id in answer.acked + [r.id for r in answer.refused or []]:
                self._in_flight.pop(event_id, None)
            acked_total += len(answer.acked)
            if answer.alerted and self.alerted is not None:
                self.alerted(answer.alerted)
            more_presence = self._keep_presence(answer)
            if answer.fetch:
                self.fetch(answer.fetch)
            if (len(rows) < size or only_stale) and not more_presence:
                break
        return acked_total

    def _sync_body(self, payloads: list[str]) -> bytes:
        """A sync request's JSON: the outbox's stored events spliced in as they are (each is the GateEvent's
        own JSON, validated when it was recorded), beside the versions running, the figures and the presence
        cursor. Parsing 500 stored events to models and writing them out again was most of a drain's CPU,
        taken from the decisions' thread by the GIL; the hub validates every event it reads."""
        presence: dict[str, Any] = {}
        if self.presence_window_s > 0:
            presence = {"presence_after": self.store.peer_cursor(),
                        "presence_window_s": math.ceil(self.presence_window_s)}
        try:
            figures = self.figures() if self.figures is not None else None
        except (sqlite3.Error, ValidationError, RuntimeError) as exc:  # a courtesy: the events go regardless
            log.warning("no figures this sync: %s", exc)
            figures = None
        rest = wire_json(SyncRequest(running=self.documents.running(), figures=figures, **presence))
        events = ",".join(payloads).encode()
        return b'{"events":[' + events + b"]" + (b"," + rest[1:] if rest != b"{}" else b"}")

    def _keep_presence(self, answer: SyncResponse) -> bool:
        """Store the other gates' presence changes of a sync answer; True if the hub has more waiting."""
        if answer.presence_after is None:
            return False  # not asked, or a hub from before presence sync
        try:
            self.store.save_peer_presence([wire(c) for c in answer.presence or []], answer.presence_after)
        except ValueError as exc:  # a time of the right shape that is no date: keep the cursor, ask again
            log.warning("presence changes from the hub ignored: %s", exc)
            return False
        return bool(answer.presence_more)

    def fetch(self, kinds: list[str]) -> None:
        """Fetch documents whose version differs from what the gate runs, and switch to them."""
        for name in kinds:
            try:
                kind = DocumentKind(name)  # a name is never a path: only the contract's kinds are asked for
            except ValueError:
                log.warning("the hub asked to fetch %r, which is no document kind: ignored", str(name)[:80])
                continue
            if kind not in GateDocuments.READS:
                continue  # parameters and risk areas travel inside the signed bundle
            try:
                answer = self.http.get(self._url(contract.DEVICE_DOCUMENT, kind=kind), timeout=self.settings.http_timeout,
                                       headers=self.documents.conditional_headers(kind))
            except requests.RequestException as exc:
                raise SyncUnreachable(f"hub unreachable: {exc}") from exc
            if answer.status_code == 304:
                continue
            if answer.status_code != 200:
                log.warning("fetching %s failed: %s", kind, answer.status_code)
                continue
            self.documents.install(kind, answer.headers.get("X-Document-Version", ""),
                                   answer.headers.get("ETag", ""), answer.content)

    def renew_lease(self, want: int = 10) -> dict[str, Any]:
        """Renew the lease, telling the hub how many admissions it has not seen yet; the answer's fields."""
        with self.lease.counting:  # no admission is half-recorded while we count
            taken_before = self.lease.taken
            after_event = self.store.last_event_id()
            unsynced = self.store.unsynced_places()
        answer = wire(self._post(contract.DEVICE_LEASE, LeaseRequest(want=want, unsynced=unsynced), LeaseResponse))
        self.lease.set(answer, taken_before)
        # A restart offline goes on from here: the grant less the admissions recorded since.
        self.store.save_lease(answer["cap"], answer["grant"], after_event)
        return answer

    def drain(self, return_lease: bool = True) -> bool:
        """A last HTTP sync before stopping, then hand the unused lease back; False if the hub was unreachable."""
        try:
            self.sync_http()
            if return_lease and self.wants_places:
                self.renew_lease(0)
        except SyncError as exc:
            log.warning("last sync failed, the outbox keeps the events: %s", exc)
            return False
        except sqlite3.Error as exc:
            log.warning("last sync skipped, local store: %s", exc)
            return False
        return True

    # ---- MQTT ----------------------------------------------------------------------------------

    def start_mqtt(self) -> None:
        """Connect to the broker (when configured): retained status, last will `offline`."""
        s = self.settings
        if not s.mqtt_host:
            return
        self.mqtt = MqttLink(s.mqtt_host, s.mqtt_port, self.venue, self.gate, s.device_id, self.secret,
                             on_ack=self._on_ack, on_notice=self._on_notice, on_command=self._commands.put)
        self.mqtt.start()

    def _on_ack(self, ids: list[str]) -> None:
        self.store.mark_sent(ids)
        for event_id in ids:
            self._in_flight.pop(event_id, None)

    def _on_notice(self, versions: dict[str, str]) -> None:
        if any(self.documents.running().get(k) != v for k, v in versions.items()):
            self._fetch_wanted.set()

    def publish_pending(self) -> int:
        """Publish pending events not already in flight by MQTT; return how many went."""
        if self.mqtt is None or not self.mqtt.connected:
            return 0
        now = time.monotonic()
        sent = 0
        # From the newest id published on: re-reading the in-flight head of a backlog every 0.05 s cost
        # a query of batch*4 rows each time. An unacked event behind the cursor goes by HTTP after
        # resend_after (sync_http(only_stale)), which is also what catches an id minted out of order.
        for event_id, payload in self.store.outbox_rows(limit=self.settings.batch * 4, after=self._published_upto):
            if event_id in self._in_flight:
                continue
            if not self.mqtt.publish_event(payload):
                break
            self._in_flight[event_id] = now
            self._published_upto = event_id
            sent += 1
        return sent

    def _reply(self, command: topics.CommandMessage, ok: bool, detail: str,
               result: topics.ReplayResult | None = None) -> None:
        if self.mqtt is None or not self.mqtt.reply(command.id, ok, detail, result):
            log.warning("could not answer command %s (%s): the hub will show it timed out", command.id, command.command)

    def run_command(self, command: topics.CommandMessage) -> None:
        """Carry out one hub command and answer it on the reply topic (an opening answers once the loop did it)."""
        try:
            if command.command == "open":
                if self.open_once is None:
                    self._reply(command, False, "this gate takes no opening from the hub")
                    return
                def done(event: Any) -> None:
                    # The loop's thread: the event is on disk and the barrier was told to open.
                    self._reply(command, event is not None, event.id if event is not None else "store unavailable")
                self.open_once(command.reason or "", command.by or "hub", done)
                return
            if command.command in ("guard_on", "guard_off"):
                if self.guard_mode is None:
                    self._reply(command, False, "this gate has no guard mode")
                    return
                self.guard_mode(command.command == "guard_on")
                self._reply(command, True, command.command)
            elif command.command in ("reload", "sync"):
                self.sync_http()  # the answer names what differs; fetch() switches to it
                self.fetch([kind.value for kind in GateDocuments.READS])
                self._reply(command, True, json.dumps(self.documents.running(), sort_keys=True))
            elif command.command == "replay":
                if self.replay is None:
                    self._reply(command, False, "this gate keeps no decisions to replay")
                    return
                result = self.replay(command.bundle)
                self._reply(command, True, f"replayed {result.replayed}, changed {result.changed}", result)
            elif command.command == "renew_lease":
                self._reply(command, True, json.dumps(self.renew_lease(self.settings.lease_want)))
        except (SyncError, sqlite3.Error, CheckpointError) as exc:  # CheckpointError: a candidate that does not verify
            self._reply(command, False, str(exc)[:200])

    def _run_commands(self) -> None:
        while not self._commands.empty():
            self.run_command(self._commands.get_nowait())

    # ---- the loop ------------------------------------------------------------------------------

    def step(self) -> None:
        """One round: MQTT first; HTTP for what MQTT did not get acknowledged, and for documents."""
        self.publish_pending()
        try:
            if self.mqtt is not None and self.mqtt.connected:
                self.sync_http(only_stale=True)
            else:
                self.sync_http()
            if self._fetch_wanted.is_set():
                self._fetch_wanted.clear()
                self.sync_http(only_stale=True)
            if self.wants_places and self.lease.remaining * 2 <= self.settings.lease_want:
                self.renew_lease(self.settings.lease_want)
            self.backoff.ok()
        except SyncBusy as exc:
            wait = self.backoff.busy(exc.retry_after_s)
            self.not_before = time.monotonic() + wait
            log.info("sync deferred %.1f s: %s", wait, exc)
        except SyncUnreachable as exc:
            wait = self.backoff.failed()
            self.not_before = time.monotonic() + wait
            log.info("sync deferred %.1f s: %s", wait, exc)
        except SyncError as exc:
            log.info("sync deferred: %s", exc)
        except sqlite3.Error as exc:  # the gate's own store is busy: the next round retries
            log.warning("sync round skipped, local store: %s", exc)

    def start(self) -> None:
        """Run the loop in a named background thread."""
        self.start_mqtt()
        self._thread = threading.Thread(target=self._run, name=f"sync-{self.gate}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        due = 0.0
        while not self._stop.is_set():
            self._run_commands()
            try:
                self.publish_pending()
            except sqlite3.Error as exc:
                log.warning("publishing skipped, local store: %s", exc)
            now = time.monotonic()
            # Woken early (a document to fetch, an urgent event): at once, unless the hub asked for later.
            woken = self._fetch_wanted.is_set() or self._urgent.is_set()
            if now >= due or (woken and now >= self.not_before):
                self._urgent.clear()
                # +-20% jitter: gates that come back together after an outage drift apart instead
                # of hitting the hub in lockstep every interval (bench/fleet.py's burst case).
                due = now + self.settings.interval_s * random.uniform(0.8, 1.2)
                self.step()
                due = max(due, self.not_before)  # a hub that shed the sync, or did not answer: later
            if self._urgent.is_set() and time.monotonic() < self.not_before:
                # Urgent, but the hub asked for later: wait for that time (stop() still wakes this), not spin.
                self._stop.wait(self.not_before - time.monotonic())
                continue
            self._urgent.wait(0.05 if self.mqtt is not None else max(0.05, due - time.monotonic()))

    def urgent(self) -> None:
        """An event the supervisors must hear of now (a red code, a fever): sync at once, not at the next interval."""
        self._urgent.set()

    def stop(self) -> None:
        """Stop the loop; publish `stopped` and disconnect from the broker."""
        self._stop.set()
        self._urgent.set()  # wake the thread from its wait
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.mqtt is not None:
            self.mqtt.stop()
