"""The decision loop: frame -> decode -> verify -> fresh reading -> decide -> record -> actuate.

One thread runs it, one frame per tick, so the camera is always drained and nothing else
touches the barrier. The order inside a decision is fixed: the event is committed to the store
(synchronous=FULL) before the relay or the screen changes, so every decision a person saw is on
disk. Faults (camera gone, thermometer unplugged) never admit anybody: they show why and wait.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from agent import messages
from agent.config import AgentConfig
from agent.decider import Decider, Verdict
from agent.devices import Devices
from agent.exit_gate import LEFT, UNREADABLE, identify_leaver
from agent.figures import DecisionTimes, gate_figures
from agent.mask_watch import MaskWatch
from agent.outcome import Presented, idle_screen, prompt_screen, remeasure_screen, report_line, result_screen
from agent.presentation import Dedupe, FeverWatch, passback_since
from agent.store import AgentStore, DecisionInputs, StoreUnavailable
from agent.thermometer_drift import DriftWatch
from agent.trusted_clock import ClockReading, TrustedClock
from hardware.display.base import Screen
from hardware.retry import Backoff
from hardware.scanner.base import ScannedLine
from protocols.contract import GateFigures
from protocols.credential import Verification
from protocols.decision import GateContext
from protocols.errors import DeviceError
from protocols.events import REMEASURE_KIND, GateEvent, RuleResult, mask_name, new_event_id, takes_place
from protocols.readings import remeasure_reason
from protocols.schedule import Schedule

log = logging.getLogger(__name__)

Verifier = Callable[[str, dt.datetime], Verification]
Decoder = Callable[[Any], list[str]]
MaskSensor = Callable[[], "bool | None"]
# What the venue's documents say about one subject at one moment: (roster, appointment) for the rules.
VenueFacts = Callable[[str, dt.datetime], tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]
FRAME_WAIT_S = 0.1  # longest a tick waits for a frame: guard requests and readings are still served
REMEASURE_HOLD_S = 15.0  # longest the amber rest screen stays before the prompt is back for others
PURGE_EVERY_S = 3600.0  # records past the venue's retention go within the hour, between presentations
STORE_RETRY_S = 1.0  # how often a gate whose store failed tries to write again (the alarm event is the probe)
STALL_S = 1.0  # a tick taking longer (frozen storage blocks every store call): the kiosk shows the fault meanwhile


class PlaceLease(Protocol):
    """The gate's share of the venue's cap (agent.sync.Lease): take() spends a place or says the venue is full."""

    counting: AbstractContextManager[Any]

    def take(self) -> bool:
        """Spend one place; False when none is left."""
        ...


@dataclass(frozen=True)
class ManualRequest:
    """A guard's decision from the kiosk page for a person with no readable code."""

    decision: str  # admit | deny
    reason: str
    operator: str
    # Told the event recorded (None: not done, the store was down): the hub's "open once" answers with it.
    done: Callable[[GateEvent | None], None] | None = None


class GateLoop:
    """Runs one gate: owns the devices while it runs and the order decide -> record -> actuate."""

    def __init__(self, cfg: AgentConfig, devices: Devices, store: AgentStore, verify: Verifier,
                 decide: Decider, decode: Decoder, on_event: Callable[[GateEvent], None] | None = None,
                 mask: MaskSensor = lambda: True, lease: PlaceLease | None = None,
                 venue_facts: VenueFacts | None = None, clock: TrustedClock | None = None,
                 mask_watch: MaskWatch | None = None, schedule: Callable[[], Schedule | None] | None = None):
        # The config's own sections: who the gate is, and the timings of a presentation, a measurement, a screen.
        self.gate, self.presentation, self.measure, self.kiosk = cfg.gate, cfg.presentation, cfg.measure, cfg.kiosk
        self._drift_fed: Presented | None = None  # the person whose reading the drift watch last took
        self.drift = (DriftWatch(cfg.measure.drift_window, cfg.measure.drift_low_c, cfg.measure.drift_high_c)
                      if cfg.measure.drift_window else None)
        self.devices = devices
        self.store = store
        self.verify = verify
        self.decider = decide
        self.decode = decode
        self.on_event = on_event
        # Without a detector ([mask] detector = "guard" or "off") the sensor answers; the simulation plugs in here.
        self.mask = mask
        self.mask_watch = mask_watch  # the camera's look at each presentation ([mask] detector = "litert")
        self.lease = lease  # None: no [sync], no cap
        self.venue_facts = venue_facts  # None: no roster or appointments loaded
        self.schedule = schedule  # the venue's signed time windows (None: no [sync])
        # Every "now" of a decision comes from here: the wall clock, or the hub's time when the wall clock jumped.
        self.clock = clock if clock is not None else TrustedClock(store, cfg.gate.clock_tolerance_s)
        self._clock_alarm: ClockReading | None = None  # the reading that opened the current clock episode
        self.passback_s = cfg.passback_window_s  # never shorter than a code's age limit
        self.dedupe = Dedupe(cfg.presentation.dedupe_s)
        self.fever = FeverWatch(cfg.measure.rest_s)
        self.manual_requests: queue.Queue[ManualRequest] = queue.Queue()
        # Kiosk guard-PIN lockouts (the how-manieth in a row, its seconds), recorded here as alarm events:
        # the kiosk's threads only queue them, the loop alone writes the store.
        self.pin_lockouts: queue.Queue[tuple[int, float]] = queue.Queue()
        # With a hub (build_gate sets both): whether it answers now, and the events it confirmed alerts for.
        self.hub_online: Callable[[], bool] | None = None
        self.hub_urgent: Callable[[], None] | None = None  # sync now: the hub must hear of an alert at once
        self.alerts_confirmed: queue.Queue[list[str]] = queue.Queue()
        self.stop_event = threading.Event()
        self.frames = 0
        self.decisions = 0
        self._pending: Presented | None = None
        self._pending_deadline = 0.0
        self._used_reading_at = float("-inf")  # a reading decides one person only
        self._screen_until = 0.0
        self._screen: Screen | None = None
        self._camera_ok = True
        self._backoff = Backoff(first_s=0.2, max_s=5.0)
        self.frame_at = 0.0  # monotonic time the last frame arrived
        self.scan_to_relay_s: float | None = None  # last admission: frame arrived -> relay command
        self.times = DecisionTimes()  # the people per minute and p95 the gate reports with each sync
        # Guard mode (the hub's guard_on / guard_off): a rules admit becomes a referral. In memory only: a
        # restarted gate runs by its rules again, and its figures tell the fleet page which it is doing.
        self.guard_mode = False
        self._next_purge = time.monotonic() + PURGE_EVERY_S  # the gate purged at start
        self._store_fault: tuple[str, dt.datetime] | None = None  # (why, since when) the store takes no record
        self._store_retry_at = 0.0
        self._tick_since: float | None = None  # monotonic start of the tick in progress (None: not watched)
        self._stall_shown = False  # the watchdog drew the stall screen over the loop's own

    # ---- running -------------------------------------------------------------------------

    def run(self, max_decisions: int | None = None) -> None:
        """Tick until stop() (or max_decisions); the barrier is driven safe however it ends."""
        done = threading.Event()
        threading.Thread(target=self._watch_stall, args=(done,), name="stall-watch", daemon=True).start()
        try:
            self._show(idle_screen(self._faults()))
            while not self.stop_event.is_set():
                self._tick_since = time.monotonic()
                try:
                    self.tick()
                except StoreUnavailable as exc:  # nothing moved: the record comes before the barrier
                    self._store_down(exc)
                if self._stall_shown and self._screen is not None:  # the stall is over: the loop's screen again
                    self._stall_shown = False
                    self.devices.show(self._screen)
                if max_decisions is not None and self.decisions >= max_decisions:
                    break
        finally:
            done.set()
            self._tick_since = None
            self.devices.safe_state()

    def stop(self) -> None:
        """Ask the loop to finish its current tick and return."""
        self.stop_event.set()

    def tick(self) -> list[GateEvent]:
        """One turn: read a frame, advance the presentation, handle guard requests, refresh the screen."""
        now = time.monotonic()
        events: list[GateEvent] = []
        if self._store_fault is not None and not self._store_back(now):
            self._closed_tick()
            return events
        self._watch_clock()
        while not self.manual_requests.empty():
            events.append(self._manual(self.manual_requests.get_nowait()))
        while not self.pin_lockouts.empty():
            alarm = self._pin_lockout(*self.pin_lockouts.get_nowait())
            if alarm is None:
                return events
            events.append(alarm)
        while not self.alerts_confirmed.empty():
            self._confirm_reported(self.alerts_confirmed.get_nowait())
        frame = self._read_frame()
        line = self._read_scanner()
        if self._pending is not None:
            if frame is not None and self.mask_watch is not None:
                self.mask_watch.offer(frame)  # the person is still in front of the camera: another look if needed
            event = self._advance_pending(time.monotonic())
            if event is not None:
                events.append(event)
        elif line is not None:
            # A scanner module decodes for us: its line meets the same dedupe and decision as a frame's code.
            self.frame_at = line.at_monotonic
            events.extend(self._take_codes([line.text], now, frame))
        elif frame is not None:
            if self.mask_watch is not None and self.gate.direction != "out":  # an exit runs no mask rule
                self.mask_watch.glance(frame)  # someone stepping up is looked at before their phone is read
            self.frames += 1
            if self.frames % self.presentation.decode_every_n_frames == 0:
                events.extend(self._scan(frame, now))
        self._refresh_screen(time.monotonic())
        if self._pending is None and time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_S
            self.store.purge(self.gate.retention_days)
        return events

    # ---- the store failing (disk full, read-only, I/O errors, locked) -----------------------

    def _store_down(self, exc: StoreUnavailable) -> None:
        """The store refused a write: nobody is decided until it takes records again; show it, alert."""
        self._pending = None
        if self._store_fault is None:
            # The alert: an operator's log watch (journald) sees it now; the hub sees the alarm event on recovery.
            log.error("ALERT gate store unavailable, the gate is closed until it is writable: %s", exc)
            self._store_fault = (str(exc), self.clock.read(floor=False).at)
        self._store_retry_at = time.monotonic() + STORE_RETRY_S
        screen = self._store_screen()
        self._show(screen)
        self.devices.announce(screen)

    def _watch_stall(self, done: threading.Event) -> None:
        """Another thread: a tick that hangs (frozen storage blocks reads and writes) must not leave the last
        green screen up; the barrier cannot move meanwhile, since the loop thread alone drives it."""
        stalled_tick = None
        while not done.wait(STALL_S / 4):
            since = self._tick_since
            if since is not None and since != stalled_tick and time.monotonic() - since > STALL_S:
                stalled_tick = since
                log.error("ALERT gate stalled: a tick has waited %.1fs (frozen storage?), the gate is closed meanwhile",
                          time.monotonic() - since)
                self._stall_shown = True
                self.devices.show(Screen("error", *messages.STALLED, reasons=(messages.STALLED_REASON,)))

    def _store_screen(self) -> Screen:
        return Screen("error", *messages.STORE_DOWN, reasons=(messages.STORE_DOWN_REASON,), faults=self._faults())

    def _closed_tick(self) -> None:
        """A tick while the store is down: camera and scanner drained, the guard's requests refused, the fault kept up."""
        self._read_frame()
        if self._read_scanner() is not None:  # decided after the store is back, it would be nobody at the gate now
            log.warning("scanned code dropped: the store is unavailable")
        while not self.manual_requests.empty():
            # Not kept for later: a guard's opening performed minutes afterwards would surprise everyone.
            dropped = self.manual_requests.get_nowait()
            log.warning("guard request %s dropped: the store is unavailable", dropped)
            if dropped.done is not None:
                dropped.done(None)
        if self._screen is None or self._screen.state != "error":
            self._show(self._store_screen())

    def _alarm_event(self, reason: RuleResult, note: str, reading: ClockReading | None = None) -> GateEvent:
        """An alarm event of this gate, dated by the time it decides by (and its wall clock beside)."""
        reading = reading or self.clock.read(floor=False)
        return GateEvent(id=new_event_id(reading.at), kind="alarm", venue=self.gate.venue, gate=self.gate.gate,
                         at=reading.at, wall_at=reading.wall, direction=self.gate.direction, reasons=[reason],
                         note=note[:500])

    def _store_back(self, now: float) -> bool:
        """Try the store again (at most every STORE_RETRY_S) by recording the alarm event; True when it took it."""
        if self._store_fault is None:
            return True
        if now < self._store_retry_at:
            return False
        self._store_retry_at = now + STORE_RETRY_S
        why, since = self._store_fault
        now_read = self.clock.read(floor=False)
        back = now_read.at
        alarm = self._alarm_event(messages.STORE_FAULT, f"store unavailable {since.isoformat()} .. {back.isoformat()}: {why}",
                                  now_read)
        try:
            self.store.record(alarm)
        except StoreUnavailable:
            return False
        log.warning("gate store writable again after %.0fs: the gate is open for decisions", (back - since).total_seconds())
        self._store_fault = None
        self._show(idle_screen(self._faults()))
        if self.on_event is not None:
            self.on_event(alarm)
        return True

    def _watch_drift(self, celsius: float) -> None:
        """Feed the drift median; on leaving the band record the GATE-THERM-01 alarm (it reaches the hub) and show the fault."""
        if self.drift is None:
            return
        change = self.drift.add(celsius)
        if change is None:
            return
        median = self.drift.median
        if change == "recovered":
            log.info("thermometer median %.2f C back in %.1f-%.1f C", median, self.drift.low_c, self.drift.high_c)
            return
        log.warning("thermometer median %.2f C of the last %d readings is outside %.1f-%.1f C: recalibrate",
                    median, len(self.drift.readings), self.drift.low_c, self.drift.high_c)
        alarm = self._alarm_event(messages.DRIFT_FAULT,
                                  f"median {median:.2f} C of the last {len(self.drift.readings)} readings outside "
                                  f"{self.drift.low_c:.1f}-{self.drift.high_c:.1f} C")
        self.store.record(alarm)  # a store fault here is the loop's own: the same handling as a decision's
        if self.on_event is not None:
            self.on_event(alarm)

    # ---- camera ---------------------------------------------------------------------------

    def _read_frame(self) -> Any:
        camera = self.devices.camera
        try:
            frame = camera.read(FRAME_WAIT_S)
        except DeviceError as exc:
            self._camera_lost(exc)
            return None
        if frame is not None:
            self.frame_at = time.monotonic()
        if not self._camera_ok:
            log.info("camera back")
            self._camera_ok = True
            self._backoff.reset()
        return frame

    def _camera_lost(self, exc: Exception) -> None:
        self._tick_since = None  # the wait for the camera below is not a hang
        if self._camera_ok:
            log.warning("camera lost: %s", exc)
            self._camera_ok = False
            self._show(idle_screen(self._faults()))
        delay = self._backoff.next()
        # Sleep in short steps so a stop or a guard's manual decision is not held up.
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not self.stop_event.is_set() and self.manual_requests.empty():
            time.sleep(min(0.05, delay))
        try:
            self.devices.reopen_camera()
        except DeviceError as again:
            log.info("camera still gone (next try in %.1fs): %s", self._backoff.current, again)

    # ---- scanning -------------------------------------------------------------------------

    def _read_scanner(self) -> ScannedLine | None:
        """The scanner's next line (None without a scanner); read while a person is measured too, and then dropped."""
        scanner = self.devices.scanner
        return scanner.read(0.0) if scanner is not None else None

    def _scan(self, frame: Any, now: float) -> list[GateEvent]:
        return self._take_codes(self.decode(frame), now, frame)

    def _take_codes(self, texts: list[str], now: float, frame: Any | None) -> list[GateEvent]:
        """The first new code among `texts` is one presentation; codes seen inside the dedupe window are not.
        `frame`: the camera's frame of the moment (the code's own, or beside a scanner's line; None: no camera)."""
        for text in texts:
            if not self.dedupe.is_new(text, now):
                continue
            digest = self.dedupe.digest(text)
            if self.mask_watch is not None and self.gate.direction != "out":
                self.mask_watch.begin(frame)  # the look runs beside verify, measure and decide
            event = self._present(text, now)
            # The window starts again when the decision is shown: a phone still held up is the same person.
            self.dedupe.touch(digest, time.monotonic())
            return [event] if event is not None else []
        return []

    def _watch_clock(self) -> None:
        """Once per episode of the wall clock straying from the trusted time: the alert and the GATE-CLOCK-01 alarm."""
        reading = self.clock.read(floor=False)  # no store read: this runs every tick
        if not reading.jumped:
            if self._clock_alarm is not None:
                log.warning("wall clock %s agrees with the hub's time again", reading.wall.isoformat())
                self._clock_alarm = None
            return
        if self._clock_alarm is not None:
            return
        assert reading.trusted is not None
        off = (reading.wall - reading.trusted).total_seconds()
        note = (f"wall clock {reading.wall.isoformat()} is {off:+.0f}s from the hub's time {reading.trusted.isoformat()}"
                f" (tolerance {self.clock.tolerance.total_seconds():.0f}s): deciding by the hub's time")
        # The alert: a log watch sees it now, the hub with the alarm event at the next sync.
        log.error("ALERT %s", note)
        alarm = self._alarm_event(messages.CLOCK_JUMP, note, reading)
        self.store.record(alarm)  # StoreUnavailable: run() closes the gate; the episode is raised again after
        self._clock_alarm = reading
        if self.on_event is not None:
            self.on_event(alarm)

    def _present(self, text: str, now: float) -> GateEvent | None:
        reading = self.clock.read()
        wall = reading.at  # the time every rule decides by (named wall before the clock defence)
        if reading.floor is not None:
            # No trusted time, and the clock stands behind the newest event: expiry, code age and
            # anti-passback all read the clock, none of them can be trusted.
            floor = reading.floor
            log.warning("clock %s is behind the newest event %s: referring", wall.isoformat(), floor.isoformat())
            return self._finish(None, "refer", [messages.local_reason("clock_behind", "OPEN")],
                                note=f"clock {wall.isoformat()} behind the newest event {floor.isoformat()}")
        verification = self.verify(text, wall)
        if self.gate.direction == "out":
            return self._exit(verification, now, wall, self.dedupe.digest(text))
        cred = verification.credential
        self.decider.refresh()
        if not verification.ok or cred is None:
            # Its length and first characters tell a misread from a wrong code in the log, and are no one's data.
            log.info("code refused: %s (%d characters, starting %r)", verification.reason, len(text), text[:4])
            # The rules word the refusal (GATE-CODE-*); the verifier's exact reason goes in the note.
            refused = GateContext(at=wall, mask=True, inside=False, code_reason=verification.reason or "unreadable",
                                  schedule=self.schedule() if self.schedule is not None else None)
            verdict = self.decider.decide(None, refused, hash_subject=self.store.hash_subject)
            return self._finish(None, verdict.decision, verdict.reasons, bundle=verdict.bundle_version,
                                fmt=verification.format, note=f"code: {verification.reason or 'unreadable'}",
                                inputs=verdict.inputs)
        p = Presented(started=now, subject=self.store.hash_subject(cred.subject), name=mask_name(cred.name),
                      person_class=cred.person_class, colour=cred.colour, credential_format=cred.format,
                      credential=cred, wall=wall, code_digest=self.dedupe.digest(text))
        case = self.fever.case(p.subject or "", now)
        if case is not None and now < case.rest_until:
            remaining = case.rest_until - now
            zh, en = messages.LOCAL_REASONS["rest_first"]
            self._show(Screen("remeasure", *messages.RETEST, reasons=((zh, en),), name=p.name,
                              countdown_s=round(remaining)), hold_s=min(remaining, self.kiosk.countdown_s))
            return None
        self._pending = p
        self._pending_deadline = now + self.measure.wait_s
        return self._advance_pending(now)

    def _exit(self, verification: Verification, now: float, wall: dt.datetime, digest: bytes) -> GateEvent:
        """An exit runs no health rule and traps nobody: a verified code records who left, else the guard opens."""
        leaver = identify_leaver(verification)
        if leaver is None:
            return self._finish(None, "refer", [UNREADABLE], fmt=verification.format,
                                note=f"exit code: {verification.reason or 'unreadable'}")
        p = Presented(started=now, subject=self.store.hash_subject(leaver.subject), name=mask_name(leaver.name),
                      person_class=leaver.person_class, colour=leaver.colour,  # type: ignore[arg-type]
                      credential_format=leaver.credential_format, credential=None, wall=wall, code_digest=digest)
        return self._finish(p, "admit", [LEFT], kind="exit")

    # ---- measuring ------------------------------------------------------------------------

    def _advance_pending(self, now: float) -> GateEvent | None:
        p = self._pending
        assert p is not None
        thermo = self.devices.thermometer
        if not thermo.connected:
            self._pending = None
            return self._finish(p, "refer", [messages.local_reason("thermometer_unavailable")])
        case = self.fever.case(p.subject or "", now)
        not_before = max(self._used_reading_at, case.rest_until if case else float("-inf"))
        reading = thermo.latest(self.measure.max_age_s)
        if reading is not None and reading.at_monotonic > not_before:
            self._used_reading_at = reading.at_monotonic
            why = remeasure_reason(reading.celsius, self.measure.limits)
            if why != "reading_implausible" and self._drift_fed is not p:
                # One reading per person (a re-measure prompt streams more of the same forehead); a low but
                # plausible one counts (a sensor reading low asks everyone to re-measure), an implausible
                # one (nobody in front, a glitch) says nothing of the sensor.
                self._drift_fed = p
                self._watch_drift(reading.celsius)
            if why is not None:
                self._show(prompt_screen("remeasure", messages.LOCAL_REASONS[why], name=p.name,
                                         countdown_s=round(self._pending_deadline - now)))
            else:
                self._pending = None
                return self._decide(p, reading.celsius, now)
        if now >= self._pending_deadline:
            self._pending = None
            return self._finish(p, "deny", [messages.local_reason("no_reading")])
        if self._screen is None or self._screen.state not in ("measure", "remeasure"):
            self._show(prompt_screen("measure", messages.MEASURE, name=p.name,
                                     countdown_s=round(self._pending_deadline - now)))
        return None

    def _decide(self, p: Presented, celsius: float, now: float) -> GateEvent:
        subject = p.subject or ""
        case = self.fever.case(subject, now)
        # Anti-passback: an entry here or at another gate of the venue (as the hub last told) and no exit since.
        inside = bool(self.passback_s > 0 and p.subject and self.store.inside(
            p.subject, passback_since(p.wall, self.passback_s)))
        roster, appointment = (None, None)
        if self.venue_facts is not None and p.credential is not None:
            roster, appointment = self.venue_facts(p.credential.subject, p.wall)
        mask = self.mask_watch.verdict()[0] if self.mask_watch is not None else self.mask()
        schedule = self.schedule() if self.schedule is not None else None
        ctx = GateContext(
            at=p.wall, celsius=case.first_celsius if case else celsius, remeasure=celsius if case else None,
            mask=mask, inside=inside, roster=roster, appointment=appointment,
            # The schedule names bookings by the venue's keyed hash, which p.subject already is.
            schedule=schedule, holder=p.subject, zone=schedule.zone_of(self.gate.gate, self.gate.zone) if schedule else self.gate.zone,
        )
        # What the rules saw is kept beside the event (subject hashed) for `checkpoint rules backtest`.
        verdict: Verdict = self.decider.decide(p.credential, ctx, hash_subject=self.store.hash_subject)
        if mask is None and self.mask_watch is not None:
            # No face found: the mask rule is OPEN (never a silent pass); say why, and nobody is admitted on it.
            no_face = messages.local_reason("mask_no_face", "OPEN")
            result = dataclasses.replace(verdict.result, decision="deny" if verdict.decision == "deny" else "refer",
                                         reasons=[*verdict.result.reasons, no_face])
            verdict = dataclasses.replace(verdict, result=result)
        if verdict.fever:
            self.fever.close(subject)
            return self._finish(p, "deny", verdict.reasons, celsius=celsius, bundle=verdict.bundle_version, kind="fever",
                                inputs=verdict.inputs)
        if verdict.needs_remeasure and case is None:
            self.fever.first_abnormal(subject, celsius, now)
            only_temp = all(r.rule == "GATE-TEMP-01" for r in verdict.reasons if r.outcome == "FAIL")
            # Only the temperature failed: a re-measure prompt (kind "remeasure"), not a denial; the second
            # reading decides, so a fever is one denial, not two. Any other failure is the refusal it is.
            return self._finish(p, verdict.decision, verdict.reasons, celsius=celsius, bundle=verdict.bundle_version,
                                rest_s=self.measure.rest_s if only_temp else None, inputs=verdict.inputs,
                                kind=REMEASURE_KIND if only_temp else "decision")
        if case is not None:
            self.fever.close(subject)
        return self._finish(p, verdict.decision, verdict.reasons, celsius=celsius, bundle=verdict.bundle_version,
                            inputs=verdict.inputs)

    # ---- recording and actuating ----------------------------------------------------------

    def _finish(self, p: Presented | None, decision: str, reasons: list[RuleResult], *, celsius: float | None = None,
                bundle: str | None = None, kind: str = "decision", fmt: str | None = None,
                operator: str | None = None, note: str | None = None, rest_s: float | None = None,
                inputs: DecisionInputs | None = None) -> GateEvent:
        if self.guard_mode and kind == "decision" and decision == "admit":
            decision, reasons = "refer", [*reasons, messages.GUARD_MODE]
        capped = self.lease is not None and takes_place(kind, self.gate.direction, decision)
        # Held from take() until the admission is on disk: a lease renewal counts it exactly once.
        with self.lease.counting if capped else contextlib.nullcontext():  # type: ignore[union-attr]
            if capped and not self.lease.take():  # type: ignore[union-attr]
                decision, reasons = "deny", [*reasons, messages.VENUE_FULL]
            now_read = self.clock.read(floor=False)
            event = GateEvent(
                id=new_event_id(now_read.at), kind=kind, venue=self.gate.venue, gate=self.gate.gate, at=now_read.at,
                wall_at=now_read.wall,
                direction=self.gate.direction, decision=decision, reasons=reasons,
                subject=p.subject if p else None, name=p.name if p else None,
                person_class=p.person_class if p else None, colour=p.colour if p else None, celsius=celsius,
                bundle_version=bundle, credential_format=(p.credential_format if p else fmt),
                operator=operator, note=note,
            )
            if p is not None and p.code_digest:
                self.dedupe.touch(p.code_digest, time.monotonic())
            # Durable first: if the power goes now, the decision is on disk and nothing has moved yet.
            self.store.record(event, inputs)
        if p is not None and kind != REMEASURE_KIND:  # a person decided: what the gate's figures count
            self.times.add(time.monotonic(), time.monotonic() - self.frame_at)
        if decision == "admit":
            self.scan_to_relay_s = time.monotonic() - self.frame_at
            self.devices.open_barrier(self.gate.open_s, event.id)
        short = self.decider.short_forms(event.at)  # the voice says every reason, each in its short form
        if rest_s is not None:
            screen = remeasure_screen(event, rest_s, short)
            # The countdown is the whole rest, but the prompt returns for the next person soon after.
            self._show(screen, hold_s=min(rest_s, max(self.kiosk.countdown_s, REMEASURE_HOLD_S)))
        else:
            # Without a hub nobody is told: no line; with one, "will be reported" until the hub confirms.
            report = report_line(event, self.hub_online()) if self.hub_online is not None else None
            if report is not None and self.hub_urgent is not None:
                self.hub_urgent()  # not at the next interval: the supervisors are told within seconds
            screen = result_screen(event, self.kiosk.countdown_s, short, report)
            self._show(screen, hold_s=self.kiosk.countdown_s)
        self.devices.announce(screen)
        self.decisions += 1
        log.info("%s %s %s %s", event.id, event.kind, event.decision, ",".join(r.rule for r in reasons))
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _manual(self, req: ManualRequest) -> GateEvent:
        if self._pending is not None:
            self._pending = None  # the guard took over this person
        reason = RuleResult(rule="manual", outcome="PASS" if req.decision == "admit" else "FAIL",
                            message_zh=req.reason, message_en=req.reason)
        event = self._finish(None, req.decision, [reason], kind="manual", operator=req.operator, note=req.reason)
        if req.done is not None:
            req.done(event)
        return event

    def figures(self) -> GateFigures:
        """The gate's own figures now (sent with every sync): rate, p95, outbox, clock offset, thermometer median."""
        offset = self.clock.offset()  # trusted minus wall: the wall clock is off by its negative
        try:
            median = self.drift.median if self.drift is not None else None
        except RuntimeError:  # the loop added a reading while this (sync) thread read them: none this time
            median = None
        return gate_figures(self.times, self.store.outbox_depth(),
                            None if offset is None else -offset.total_seconds(), median, self.guard_mode)

    def _pin_lockout(self, lockouts: int, seconds: float) -> GateEvent | None:
        """Record a guard-PIN lockout as an alarm event (synced to the hub like any event); None if the store is down."""
        alarm = self._alarm_event(messages.PIN_LOCKED,
                                  f"guard mode locked {seconds:.0f}s after {lockouts} lockout(s) of wrong PINs in a row")
        try:
            self.store.record(alarm)
        except StoreUnavailable as exc:
            self._store_down(exc)
            return None
        log.warning("ALERT guard PIN guessed wrong repeatedly: guard mode locked for %.0fs", seconds)
        if self.on_event is not None:
            self.on_event(alarm)
        return alarm

    # ---- screen ---------------------------------------------------------------------------

    def _faults(self) -> tuple[tuple[str, str], ...]:
        faults = []
        if not self._camera_ok:
            faults.append(messages.CAMERA_DOWN)
        if not self.devices.thermometer.connected:
            faults.append(messages.THERMOMETER_DOWN)
        if self.drift is not None and self.drift.drifted:
            faults.append(messages.THERMOMETER_DRIFT)
        if self.devices.barrier.fire_alarm_active:
            faults.append(messages.FIRE_ALARM)
        return tuple(faults)

    def _confirm_reported(self, event_ids: list[str]) -> None:
        """The hub holds alerts for these events: the screen still showing one of them now says "reported"."""
        screen = self._screen
        if screen is not None and screen.report is not None and screen.event_id in event_ids:
            left = max(0.0, self._screen_until - time.monotonic())
            self._show(dataclasses.replace(screen, report=messages.REPORTED, countdown_s=round(left)), hold_s=left)

    def _show(self, screen: Screen, hold_s: float = 0.0) -> None:
        self._screen = screen
        self._screen_until = time.monotonic() + hold_s
        self.devices.show(screen)

    def _refresh_screen(self, now: float) -> None:
        if self._pending is not None or now < self._screen_until:
            return
        idle = idle_screen(self._faults())
        if self._screen != idle:
            self._show(idle)
