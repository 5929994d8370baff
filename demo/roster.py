"""Sample enrolled people: resident ID numbers valid under GB 11643 (python-stdnum's check digit), names, classes
and groups, and the files an operator imports for them (the roster) and a health authority sends (their colours).

The demo enrols its simulated population with these files, the holder benchmark its thousands of holders. The
numbers are made up: a fixed district code and birth dates from 1970 on, never anyone's real number (well, any
such number may exist; none is taken from anywhere).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stdnum.cn import ric

REGION = "330106"  # 杭州市西湖区: the district the sample numbers are registered in
FIRST_BIRTHDAY = dt.date(1970, 1, 1)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
GROUPS = ("装配一组", "装配二组", "仓储组", "行政组")


@dataclass(frozen=True)
class SamplePerson:
    """One made-up person as the roster file names them, with the colour the authority's feed gives them."""

    id_number: str
    name: str
    person_class: str = "staff"
    group: str | None = None
    colour: str = "green"


def id_number(index: int) -> str:
    """The `index`-th sample resident ID number (18 characters, its check digit valid)."""
    born = FIRST_BIRTHDAY + dt.timedelta(days=index // 1000)
    body = f"{REGION}{born:%Y%m%d}{index % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum takes the whole number and ignores its last character


def sample_people(n: int, seed: int = 0, classes: Sequence[str] = ("staff",), colours: Sequence[str] = ("green",)) -> list[SamplePerson]:
    """`n` people, the same for the same arguments: person i has the i-th ID number, classes and colours in turn."""
    rng = random.Random(seed)
    people = []
    for i in range(n):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        person_class = classes[i % len(classes)]
        group = rng.choice(GROUPS) if person_class == "staff" else None
        people.append(SamplePerson(id_number(i), name, person_class, group, colours[i % len(colours)]))
    return people


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def roster_csv(people: Iterable[SamplePerson]) -> str:
    """The roster file (`checkpoint hub roster import`): ID number, name, class, group."""
    return _csv(("身份证号", "姓名", "人员类别", "分组"), ((p.id_number, p.name, p.person_class, p.group or "") for p in people))


def authority_csv(people: Iterable[SamplePerson], since: dt.datetime) -> str:
    """The health authority's colour feed (`checkpoint hub status import --source authority`), each colour set at `since`."""
    stamp = since.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _csv(("身份证号", "健康码", "赋码时间"), ((p.id_number, p.colour, stamp) for p in people))
