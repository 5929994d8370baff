"""China's administrative divisions (province, city, district) by six-digit GB/T 2260 code and by name.

The data are vendored in `protocols/divisions/` (see its PROVENANCE.txt); no maintained Python package
carries them, so this module only reads those CSV files. It is what the holder's travel declaration
picks regions from and what a risk-area list published by name is resolved against.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

from protocols.errors import CheckpointError

# The city level of a municipality is a placeholder, not a place a person would name.
PLACEHOLDER_CITIES = frozenset({"市辖区", "县"})


class DivisionError(CheckpointError):
    """A division code or name that is not one of China's administrative divisions."""


@dataclass(frozen=True)
class Division:
    """One administrative division: its six-digit code, its name, its level and its parent's code."""

    code: str
    name: str
    level: str  # "province", "city" or "district"
    parent: str | None


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("protocols").joinpath("divisions", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@cache
def divisions() -> dict[str, Division]:
    """Every division by its six-digit code (provinces as XX0000, cities as XXXX00)."""
    found: dict[str, Division] = {}
    for row in _read("provinces.csv"):
        found[row["code"].ljust(6, "0")] = Division(row["code"].ljust(6, "0"), row["name"], "province", None)
    for row in _read("cities.csv"):
        code = row["code"].ljust(6, "0")
        found[code] = Division(code, row["name"], "city", row["provinceCode"].ljust(6, "0"))
    for row in _read("areas.csv"):
        found[row["code"]] = Division(row["code"], row["name"], "district", row["cityCode"].ljust(6, "0"))
    return found


def division(code: str) -> Division:
    """The division with this six-digit code, or DivisionError naming the code."""
    found = divisions().get(str(code).strip())
    if found is None:
        raise DivisionError(f"unknown administrative division code {code!r}")
    return found


def lineage(code: str) -> list[Division]:
    """The division and its parents, province first."""
    chain = [division(code)]
    while chain[0].parent is not None:
        chain.insert(0, division(chain[0].parent))
    return chain


def full_name(code: str) -> str:
    """A division's name as a person says it: province, city, district, without placeholder levels."""
    return "".join(d.name for d in lineage(code) if not (d.level == "city" and d.name in PLACEHOLDER_CITIES))


def children(code: str | None) -> list[Division]:
    """The divisions directly under `code` (the provinces for None), in code order."""
    return sorted((d for d in divisions().values() if d.parent == code), key=lambda d: d.code)


def resolve(province: str, city: str | None = None, district: str | None = None) -> Division:
    """The division a province/city/district name triple names (as national risk-area lists print them).

    A municipality's district may be given with the city left empty or repeating the province
    (北京市, 北京市, 朝阳区); a name may omit its suffix (北京 for 北京市).
    """
    def matches(d: Division, name: str) -> bool:
        name = name.strip()
        return d.name == name or (len(name) >= 2 and d.name.startswith(name))

    provinces = [d for d in children(None) if matches(d, province)]
    if len(provinces) != 1:
        raise DivisionError(f"province {province!r} is {'ambiguous' if provinces else 'unknown'}")
    found = provinces[0]
    if city and city.strip() and not matches(found, city):
        cities = [d for d in children(found.code) if matches(d, city)]
        if len(cities) != 1:
            raise DivisionError(f"city {city!r} in {found.name} is {'ambiguous' if cities else 'unknown'}")
        found = cities[0]
    if district and district.strip():
        under = [found.code] if found.level == "city" else [c.code for c in children(found.code)]
        districts = [d for c in under for d in children(c) if matches(d, district)]
        exact = [d for d in districts if d.name == district.strip()]
        districts = exact or districts
        if len(districts) != 1:
            raise DivisionError(f"district {district!r} in {found.name} is {'ambiguous' if districts else 'unknown'}")
        found = districts[0]
    return found


def choices(code: str | None) -> list[Division]:
    """What a person picks from under `code` (the provinces for None): its children, with a placeholder
    city level (a municipality's 市辖区) replaced by the districts under it."""
    out: list[Division] = []
    for d in children(code):
        if d.level == "city" and d.name in PLACEHOLDER_CITIES:
            out.extend(children(d.code))
        else:
            out.append(d)
    return out


def is_leaf(code: str) -> bool:
    """Whether the division is as precise as a declaration can be: a district, or a city without districts."""
    return not children(division(code).code)
