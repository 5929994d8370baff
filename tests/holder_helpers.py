"""A hub with enrolled people, their statuses and holder links (tests of the holder side)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.clock import utc_now, utc_text
from protocols.trustlist import TrustList
from server.issuing import IssuerKeys
from server.store_people import PersonRecord, StatusRecord

VENUE = "acme"
ID_NUMBER = "11010519491231002X"  # the GB 11643 example number (valid check digit)
COURIER_ID = "110105194912310011"


@dataclass
class Holders:
    """The hub, its venue's issuer keys and the trust list a gate would hold."""

    hub: Any
    keys: IssuerKeys

    @property
    def store(self):
        return self.hub.store

    def trust(self) -> TrustList:
        """The trust list a gate of the venue holds: the hub's issuer key for it."""
        return TrustList([self.keys.trusted_key(VENUE)])

    def enrol(self, id_number: str, name: str = "张*明", person_class: str = "staff", group: str | None = "装配一组") -> dict:
        """Enrol one more person (the roster keeps everyone enrolled before); their people row."""
        known = [PersonRecord(id_hash=p["id_hash"], masked_name=p["masked_name"], person_class=p["person_class"],
                              group_name=p["group_name"]) for p in self.store.people(VENUE, limit=1000)]
        record = PersonRecord(id_hash=self.store.id_hash(id_number), masked_name=name, person_class=person_class,
                              group_name=group)
        self.store.apply_roster(VENUE, [*known, record], by_user="test")
        return self.store.person(VENUE, id_hash=record.id_hash)

    def colour(self, id_number: str, colour: str, since: dt.datetime | None = None) -> None:
        """The health authority's feed says this colour now."""
        since = since or utc_now() - dt.timedelta(days=2)
        self.store.add_statuses(VENUE, "authority", [StatusRecord(id_hash=self.store.id_hash(id_number), row=1,
                                                                  colour=colour, colour_since=utc_text(since))],
                                by_user="test")

    def declare(self, id_number: str, stays: list[list[str]] | None = None) -> None:
        """The holder declares their stays of the last 14 days (none: stayed nowhere else)."""
        person = self.store.person(VENUE, id_hash=self.store.id_hash(id_number))
        self.store.add_person_status(VENUE, person["id"], "declaration",
                                     StatusRecord(id_hash=person["id_hash"], row=1, stays=stays or []), by_user="holder")

    def green(self, id_number: str) -> None:
        """A fresh green from the authority and a fresh declaration: what issuing needs for a green pass."""
        self.colour(id_number, "green")
        self.declare(id_number)

    def link(self, person: dict, **window: str) -> str:
        """A new link secret for this person."""
        return self.store.issue_holder_link(VENUE, person["subject"], "test", **window)


def make_holders(hub_factory, monkeypatch, tmp_path: Path, serve: bool = False) -> Holders:
    """A hub with venue acme (its issuer key made) and nobody enrolled yet."""
    monkeypatch.setenv("CHECKPOINT_ISSUER_KEYS", str(tmp_path / "issuer-keys"))
    hub = hub_factory(venues={VENUE: {"name": "一号工厂"}}, gates={VENUE: ["north"]}, serve=serve, testing=True)
    keys = IssuerKeys(tmp_path / "issuer-keys")
    keys.create(VENUE)
    return Holders(hub, keys)
