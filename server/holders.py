"""What the hub knows about a link's holder, as issuing's `PersonStatus`: the enrolled person and the latest
status of each source (i10-people's store: `person`, `current_status`), a visitor's window from the link, a
courier's declared goods."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from protocols.credential import Goods, NucleicAcidTest, Stay, VisitWindow
from server.issuing import PersonStatus
from server.store import HubStore

COLOUR_SOURCES = ("authority", "manual")  # who may set a colour
TEST_SOURCES = ("lab", "manual")  # who may record a nucleic-acid result


def _time(text: str | None) -> dt.datetime | None:
    return None if not text else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def status_from_rows(person: Mapping[str, Any], latest: Mapping[str, Mapping[str, Any]], *,
                     window: VisitWindow | None = None, goods: Sequence[Mapping[str, Any]] = ()) -> PersonStatus:
    """Combine a person and the latest status row of each source into what issuing needs: the colour of the
    newest colour row (by the hub's receipt), the test sampled last, the holder's newest declaration."""
    colours = [r for s, r in latest.items() if s in COLOUR_SOURCES and r.get("colour")]
    colour_row = max(colours, key=lambda r: (r["received_at"], r["id"])) if colours else None
    tests = [r for s, r in latest.items() if s in TEST_SOURCES and r.get("test_at") and r.get("test_result")]
    test_row = max(tests, key=lambda r: (r["test_at"], r["received_at"])) if tests else None
    declared = latest.get("declaration")
    stays = [Stay(region=s[0], start=s[1], end=s[2]) for s in (declared or {}).get("stays") or []]
    return PersonStatus(
        subject=person["subject"], name=person["masked_name"], person_class=person["person_class"],
        group=person.get("group_name") or None,
        colour=colour_row["colour"] if colour_row else None,
        colour_since=_time(colour_row.get("colour_since")) if colour_row else None,
        colour_recorded_at=_time(colour_row["received_at"]) if colour_row else None,
        test=NucleicAcidTest(at=_time(test_row["test_at"]), result=test_row["test_result"]) if test_row else None,
        stays=tuple(stays), declared_at=_time(declared["received_at"]) if declared else None, window=window, goods=tuple(Goods(**g) for g in goods),
    )


def link_status(store: HubStore, link: Mapping[str, Any]) -> PersonStatus | None:
    """The status of the link's holder now (None: not on the venue's roster any more)."""
    person = store.person(link["venue"], subject=link["subject"])
    if person is None:
        return None
    window = None
    if link.get("valid_from") and link.get("valid_until"):
        window = VisitWindow(start=_time(link["valid_from"]), end=_time(link["valid_until"]))
    goods = store.active_goods(link["venue"], link["subject"]) if person["person_class"] == "courier" else []
    return status_from_rows(person, store.current_status(person["id"]), window=window,
                            goods=[{**g, "cold_chain": bool(g["cold_chain"])} for g in goods])
