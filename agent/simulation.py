"""A gate with every device simulated and a stream of simulated people walking up to it."""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable

from agent.config import AgentConfig
from agent.decider import Decider
from agent.gate import Gate, build_gate
from agent.people import PeopleFactory, Person
from hardware.display.base import Display
from hardware.display.kiosk import KioskDisplay
from protocols.cose import PrivateKey
from protocols.events import GateEvent

log = logging.getLogger(__name__)

SHOW_CODE_S = 1.2  # how long a person holds the phone up
DECISION_TIMEOUT_S = 15.0


class Simulation:
    """Drives simulated people through a gate: temperature on the thermometer, code in front of the camera."""

    def __init__(self, cfg: AgentConfig, seed: int | None = None,
                 on_event: Callable[[GateEvent], None] | None = None, extra_displays: list[Display] | None = None,
                 issuer_key: PrivateKey | None = None):
        self.cfg = cfg
        self.factory = PeopleFactory(seed, key=issuer_key)
        self.on_event = on_event
        self.events: queue.Queue[GateEvent] = queue.Queue()
        self._current: Person | None = None
        self.stopping = threading.Event()  # set (by SIGTERM in `agent simulate`): run() ends after this person
        if cfg.rules.root_public_key is not None:
            # Signed mode: the rules and trust list are the hub's (or the config's), checked against the root
            # key, as on a real gate; the people must then be signed by an issuer that list trusts.
            trust, decider = None, None
        else:
            trust = self.factory.trust
            decider = Decider.from_pack(cfg.gate.venue_kind, cfg.rules.params, self.factory.risk_areas)
        self.gate: Gate = build_gate(cfg, trust=trust, decider=decider, on_event=self._event,
                                     mask=lambda: self._current.mask if self._current else True,
                                     extra_displays=extra_displays)
        self.gate.start()
        self._thread = self.gate.run_in_thread()

    @property
    def kiosk_url(self) -> str | None:
        """The kiosk page's address, when it is served."""
        kiosks = [d for d in self.gate.devices.displays if isinstance(d, KioskDisplay)]
        return kiosks[0].url if kiosks else None

    def _event(self, event: GateEvent) -> None:
        self.events.put(event)
        if self.on_event is not None:
            self.on_event(event)

    def present(self, person: Person, celsius: float | None = None) -> GateEvent | None:
        """One person steps up: temperature first, then the code; the gate's decision (None on timeout)."""
        sim = self.gate.devices.thermometer_simulator
        self._current = person
        if sim is not None:
            sim.set_temperature(person.celsius if celsius is None else celsius)
            # Let a reading of this person arrive before the code does (the stream is every interval).
            time.sleep(2.5 * self.cfg.thermometer.interval_s)  # type: ignore[union-attr]
        else:
            time.sleep(0.1)  # a real or MQTT thermometer: let its latest reading arrive
        self.gate.devices.camera.present(person.code, SHOW_CODE_S)  # type: ignore[attr-defined]
        try:
            return self.events.get(timeout=DECISION_TIMEOUT_S)
        except queue.Empty:
            log.warning("no decision for a %s person within %.0fs", person.kind, DECISION_TIMEOUT_S)
            return None

    def visit(self, person: Person) -> list[GateEvent]:
        """A whole visit: present; after a first high reading, rest and present once more."""
        first = self.present(person)
        if first is None:
            return []
        events = [first]
        if first.kind == "decision" and any(r.rule == "GATE-TEMP-01" and r.outcome == "FAIL" for r in first.reasons):
            # Put the phone down and rest; a code still in view, or back inside the dedupe window,
            # is the same presentation as before.
            time.sleep(max(self.cfg.measure.rest_s, SHOW_CODE_S + self.cfg.presentation.dedupe_s) + 0.2)
            again = self.present(person, person.celsius_after_rest)
            if again is not None:
                events.append(again)
        # The next person must not be taken for this one: wait until this code is forgotten.
        time.sleep(max(0.0, SHOW_CODE_S - 0.5))
        return events

    def run(self, people: int, pace: float = 1.0, kinds: tuple[str, ...] = ()) -> str:
        """Send `people` people (0: until interrupted), of `kinds` only when given; return a one-line summary."""
        counts: collections.Counter[str] = collections.Counter()
        n = 0
        try:
            while (people == 0 or n < people) and not self.stopping.is_set():
                n += 1
                kind = self.factory.rng.choice(kinds) if kinds else None
                for event in self.visit(self.factory.person(kind)):
                    counts[event.kind if event.kind != "decision" else event.decision or "?"] += 1
                self.stopping.wait(pace)
        except KeyboardInterrupt:
            log.info("simulation interrupted")
        return "汇总 · summary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" ({n} people)"

    def close(self) -> None:
        """Stop the gate and release the simulated devices."""
        self.gate.stop()
        self._thread.join(timeout=5)
        self.gate.close()
