"""Simulated people: a population's residents are the same person at every gate."""

from __future__ import annotations

import pytest

from agent.people import PeopleFactory
from protocols.clock import utc_now
from protocols.healthpass import verify_healthpass


def test_a_resident_is_the_same_holder_at_every_gate_and_strangers_are_new() -> None:
    entry, exit_gate = PeopleFactory(seed=1, population=5), PeopleFactory(seed=2, population=5)
    def holder(factory: PeopleFactory, resident: int | None):
        code = factory.person("green", resident=resident).code
        return verify_healthpass(code, factory.trust, utc_now()).credential

    here, there = holder(entry, 3), holder(exit_gate, 3)
    assert here.subject == there.subject == PeopleFactory.resident_subject(3)
    assert here.name == there.name
    stranger = holder(entry, None)
    assert stranger.subject != here.subject and not stranger.subject.startswith("SIM-R")


def test_a_resident_outside_the_population_is_refused() -> None:
    with pytest.raises(ValueError, match="population of 5"):
        PeopleFactory(population=5).person("green", resident=5)
    assert list(PeopleFactory().residents()) == []
