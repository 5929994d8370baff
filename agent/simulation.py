"""A gate with every device simulated and a stream of simulated people walking up to it."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable

from pathlib import Path

import cv2
import numpy as np

from agent.config import AgentConfig
from agent.decider import Decider
from agent.gate import Gate, build_gate
from agent.holder_people import HOLDER_KINDS, HolderLinks
from agent.people import PeopleFactory, Person
from hardware.camera import simulated as simulated_camera
from hardware.display.base import Display
from hardware.display.kiosk import KioskDisplay
from protocols.clock import utc_now
from protocols.cose import PrivateKey
from protocols.events import REMEASURE_KIND, GateEvent

log = logging.getLogger(__name__)

SHOW_CODE_S = 1.2  # how long a person holds the phone up
DECISION_TIMEOUT_S = 15.0


STEP_UP_S = 0.3  # with face photos: the face alone in view before the phone is raised


def face_photos() -> dict[bool, list[np.ndarray]]:
    """The simulator's face photos (hardware/camera/faces), grey, by mask worn."""
    folder = Path(simulated_camera.__file__).with_name("faces")
    return {worn: [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted((folder / sub).glob("*.jpg"))]
            for worn, sub in ((True, "with_mask"), (False, "without_mask"))}


class Simulation:
    """Drives simulated people through a gate: temperature on the thermometer, code in front of the camera."""

    def __init__(self, cfg: AgentConfig, seed: int | None = None,
                 on_event: Callable[[GateEvent], None] | None = None, extra_displays: list[Display] | None = None,
                 issuer_key: PrivateKey | None = None, population: int | None = None, holders: Path | None = None):
        self.cfg = cfg
        self.factory = PeopleFactory(seed, key=issuer_key, population=population)
        # With a file of holder links, the people of the kinds a holder can be show their holder page's pass.
        self.holders = HolderLinks(holders) if holders is not None else None
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
        # With the camera's model on, the model judges the face photo the simulated person holds up beside the code.
        self.faces = face_photos() if cfg.mask.detector == "litert" else None
        self.gate: Gate = build_gate(cfg, trust=trust, decider=decider, on_event=self._event,
                                     mask=None if self.faces else (lambda: self._current.mask if self._current else True),
                                     extra_displays=extra_displays)
        self.gate.start()
        self._thread = self.gate.run_in_thread()
        self._resident_hashes = {i: self.gate.store.hash_subject(PeopleFactory.resident_subject(i))
                                 for i in self.factory.residents()}

    @property
    def kiosk_url(self) -> str | None:
        """The kiosk page's address, when it is served."""
        kiosks = [d for d in self.gate.devices.displays if isinstance(d, KioskDisplay)]
        return kiosks[0].url if kiosks else None

    def _event(self, event: GateEvent) -> None:
        self.events.put(event)
        if self.on_event is not None:
            self.on_event(event)

    def _step_up(self, celsius: float) -> None:
        """The person's temperature on the thermometer, and a reading of it arrived before the code does."""
        sim = self.gate.devices.thermometer_simulator
        if sim is not None:
            sim.set_temperature(celsius)
            # Let a reading of this person arrive before the code does (the stream is every interval).
            time.sleep(2.5 * self.cfg.thermometer.interval_s)  # type: ignore[union-attr]
        else:
            time.sleep(0.1)  # a real or MQTT thermometer: let its latest reading arrive

    def _decision(self, what: str) -> GateEvent | None:
        try:
            return self.events.get(timeout=DECISION_TIMEOUT_S)
        except queue.Empty:
            log.warning("no decision for %s within %.0fs", what, DECISION_TIMEOUT_S)
            return None

    def present_image(self, image: np.ndarray, celsius: float = 36.6, seconds: float = SHOW_CODE_S) -> GateEvent | None:
        """Someone steps up and holds an image (a phone's screen, a screenshot) to the camera; the decision."""
        self._current = None  # nobody the factory made: the mask is worn
        self._step_up(celsius)
        self.gate.devices.camera.present_image(image, seconds)  # type: ignore[attr-defined]
        return self._decision("a shown image")

    def present(self, person: Person, celsius: float | None = None) -> GateEvent | None:
        """One person steps up: temperature first, then the code; the gate's decision (None on timeout)."""
        self._current = person
        self._step_up(person.celsius if celsius is None else celsius)
        face = None
        if self.faces:
            choices = self.faces[bool(person.mask)]
            face = self.factory.rng.choice(choices)
        if face is not None:  # the person steps up, then raises the phone
            self.gate.devices.camera.present_image(face, STEP_UP_S)  # type: ignore[attr-defined]
            time.sleep(STEP_UP_S)
        self.gate.devices.camera.present(person.code, SHOW_CODE_S, face=face)  # type: ignore[attr-defined]
        return self._decision(f"a {person.kind} person")

    def visit(self, person: Person) -> list[GateEvent]:
        """A whole visit: present; after a first high reading, rest and present once more."""
        first = self.present(person)
        if first is None:
            return []
        events = [first]
        if first.kind == REMEASURE_KIND:
            # Put the phone down and rest; a code still in view, or back inside the dedupe window,
            # is the same presentation as before.
            time.sleep(max(self.cfg.measure.rest_s, SHOW_CODE_S + self.cfg.presentation.dedupe_s) + 0.2)
            again = self.present(person, person.celsius_after_rest)
            if again is not None:
                events.append(again)
        # The next person must not be taken for this one: wait until this code is forgotten.
        time.sleep(max(0.0, SHOW_CODE_S - 0.5))
        return events

    def next_resident(self) -> int | None:
        """With a population: a resident who may walk up here as the gate knows it (inside for an exit,
        outside for an entry), chosen at random; None when there is nobody (or no population)."""
        if not self._resident_hashes:
            return None
        leaving = self.cfg.gate.direction == "out"
        since = utc_now() - dt.timedelta(seconds=self.cfg.passback_window_s)
        # The gate's own view: its admissions and the other gates' presence changes the hub sent.
        free = [i for i, h in self._resident_hashes.items() if self.gate.store.inside(h, since) == leaving]  # type: ignore[arg-type]
        return self.factory.rng.choice(free) if free else None

    def holder(self, kinds: tuple[str, ...] = ()) -> Person | None:
        """With holder links: an enrolled holder showing the pass their page gives now, one the gate would let walk
        up here (outside for an entry, inside for an exit); None when this person is not a holder (a kind no holder
        page issues, at an exit every other time) or no holder can come."""
        links = self.holders.links() if self.holders is not None else []
        if not links:
            return None
        leaving = self.cfg.gate.direction == "out"
        kind = self.factory.rng.choice(kinds or PeopleFactory.KINDS)
        if (leaving and self.factory.rng.random() < 0.5) or (not leaving and kind not in HOLDER_KINDS):
            return None
        since = utc_now() - dt.timedelta(seconds=self.cfg.passback_window_s)
        self.factory.rng.shuffle(links)
        for link in links:
            code = self.holders.current_pass(link)  # type: ignore[union-attr]
            if code is None:
                continue
            # The gate's own check names the holder (and their colour): who is inside is the gate's view.
            seen = self.gate.loop.verify(code, utc_now())
            if not seen.ok or seen.credential is None:
                continue
            subject = self.gate.store.hash_subject(seen.credential.subject)
            if self.gate.store.inside(subject, since) == leaving:  # type: ignore[arg-type]
                colour = seen.credential.colour or "green"
                shown = "green" if leaving else (kind if colour == "green" else colour)
                return self.factory.holding(shown if shown in HOLDER_KINDS else "green", code, colour)
        return None

    def run(self, people: int, pace: float = 1.0, kinds: tuple[str, ...] = ()) -> str:
        """Send `people` people (0: until interrupted), of `kinds` only when given; return a one-line summary.

        With a population, an exit gate walks out residents the venue's gates admitted (waiting while
        nobody is inside) and an entry gate brings in residents who are outside."""
        counts: collections.Counter[str] = collections.Counter()
        n = from_pages = 0
        try:
            while (people == 0 or n < people) and not self.stopping.is_set():
                person = self.holder(kinds)
                from_pages += person is not None
                if person is None:
                    resident = self.next_resident()
                    if self._resident_hashes and resident is None:
                        self.stopping.wait(pace)  # nobody inside to leave (or everybody inside): wait for the venue
                        continue
                    if kinds:
                        kind = self.factory.rng.choice(kinds)
                    else:
                        # People leaving show a pass that names them; an unreadable one frees nobody's place.
                        kind = "green" if resident is not None and self.cfg.gate.direction == "out" else None
                    person = self.factory.person(kind, resident=resident)
                n += 1
                for event in self.visit(person):
                    counts[event.kind if event.kind != "decision" else event.decision or "?"] += 1
                self.stopping.wait(pace)
        except KeyboardInterrupt:
            log.info("simulation interrupted")
        pages = f", {from_pages} with a holder page's pass" if self.holders is not None else ""
        return "汇总 · summary: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f" ({n} people{pages})"

    def close(self) -> None:
        """Stop the gate and release the simulated devices."""
        self.gate.stop()
        self._thread.join(timeout=5)
        self.gate.close()
