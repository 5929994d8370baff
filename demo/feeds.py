"""The demo's residents and the simulated health authority and lab that feed the hub's status imports.

A few residents are enrolled through the roster API, get holder links (`checkpoint hub holder-link`) and
declare, as each one's phone would on the holder page, that they stayed nowhere else. Then, every
`every` seconds, the authority posts everyone's colour and the lab everyone's latest negative result
to `POST /api/v1/venues/{v}/status/{authority|lab}`, each as its own supervisor login, as a real feed
would. One resident turns yellow from the second round on: their holder page shows a yellow pass at
its next refresh, and the console's person page shows why.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

import requests
from stdnum.cn import ric

from protocols import contract
from protocols.events import mask_name

# Fictional residents (the ID numbers are made here with valid check digits and belong to no one).
RESIDENTS = (("张晓明", "staff", "装配一组"), ("李文华", "staff", "装配一组"), ("王丽芳", "staff", "质检组"),
             ("赵志强", "staff", "仓储组"))
TURNS_YELLOW = 1  # the resident (by index) the authority turns yellow from the second round on
LABELS = {"authority": "卫健 authority", "lab": "检测 lab"}


@dataclass(frozen=True)
class Resident:
    """One demo resident: a fictional ID number, the full name the roster masks, class and group."""

    id_number: str
    name: str
    person_class: str
    group: str


def residents() -> list[Resident]:
    """The demo's residents, each with a valid (fictional) GB 11643 number."""
    out = []
    for i, (name, person_class, group) in enumerate(RESIDENTS):
        body = f"11010519{80 + i:02d}0{i + 1}1500{i + 1}"  # Beijing Chaoyang, born 1980+i, a sequence number
        out.append(Resident(body + ric.calc_check_digit(body + "0"), name, person_class, group))
    return out


def roster_csv(people: list[Resident]) -> bytes:
    """The roster file the venue's admin uploads (UTF-8 with BOM, as Excel writes it)."""
    lines = ["身份证号,姓名,人员类别,分组"] + [f"{p.id_number},{p.name},{p.person_class},{p.group}" for p in people]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")


def authority_records(people: list[Resident], now: dt.datetime, yellow_since: dt.datetime | None) -> list[dict[str, str]]:
    """The authority's feed now: everyone green for a month, one resident yellow since `yellow_since` (None: not yet)."""
    records = []
    for i, p in enumerate(people):
        yellow = i == TURNS_YELLOW and yellow_since is not None
        since = yellow_since if yellow else now - dt.timedelta(days=30)
        records.append({"id": p.id_number, "colour": "yellow" if yellow else "green",
                        "since": since.isoformat(timespec="seconds")})
    return records


def lab_records(people: list[Resident], now: dt.datetime) -> list[dict[str, str]]:
    """The lab's feed this round: everyone's negative result sampled two hours ago."""
    sampled = (now - dt.timedelta(hours=2)).isoformat(timespec="seconds")
    return [{"id": p.id_number, "sampled_at": sampled, "result": "negative"} for p in people]


class StatusFeeds(threading.Thread):
    """The simulated authority and lab: one round of both feeds every `every` seconds until stopped."""

    def __init__(self, hub_url: str, venue: str, people: list[Resident], logins: dict[str, tuple[str, str]],
                 every: float, say: Callable[[str], None]) -> None:
        super().__init__(name="status-feeds", daemon=True)
        self.url = f"{hub_url}{contract.API_PREFIX}/venues/{venue}/status/"
        self.people, self.logins, self.every, self.say = people, logins, every, say
        self.stopped = threading.Event()
        self.rounds = 0
        self.yellow_since: dt.datetime | None = None

    def run(self) -> None:
        """Post both feeds, then wait; a refused or failed post is said and the next round tries again."""
        while not self.stopped.is_set():
            now = dt.datetime.now(dt.timezone.utc)
            if self.rounds == 1:
                self.yellow_since = now
                self.say(f"[{LABELS['authority']}] {mask_name(self.people[TURNS_YELLOW].name)} → 黄码 yellow: "
                         "their holder page turns yellow at its next refresh")
            self._post("authority", authority_records(self.people, now, self.yellow_since))
            self._post("lab", lab_records(self.people, now))
            self.rounds += 1
            self.stopped.wait(self.every)

    def _post(self, source: str, records: list[dict[str, str]]) -> None:
        try:
            answer = requests.post(self.url + source, json=records, auth=self.logins[source], timeout=10)
        except requests.RequestException as exc:
            self.say(f"[{LABELS[source]}] hub unreachable: {exc}")
            return
        if not answer.ok:
            self.say(f"[{LABELS[source]}] refused: {answer.status_code} {answer.text[:200]}")
        elif self.rounds == 0:
            self.say(f"[{LABELS[source]}] {answer.json()['stored']} statuses stored, then every {self.every:g} s")

    def stop(self) -> None:
        """End after the round in progress."""
        self.stopped.set()
