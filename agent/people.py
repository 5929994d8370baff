"""Simulated people for `checkpoint agent simulate`: real signed codes, each kind of person a gate meets.

Every person carries a real `HP1:` code minted with a simulation issuer key (or a forged one, a
stale screenshot, an expired pass, a code that is no health code at all), a body temperature
and whether they wear a mask. The issuer's key is on the simulation's trust list, so the gate
verifies everything exactly as it would in a venue.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass

from protocols.bundle import RiskArea, RiskAreas
from protocols.clock import utc_now
from protocols.cose import PrivateKey
from protocols.credential import NucleicAcidTest, Stay
from protocols.healthpass import mint
from protocols.healthpass_claims import HealthPassClaims
from protocols.keys import generate_private_key, key_id
from protocols.trustlist import TrustedKey, TrustList

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
RISK_REGION = "310115"  # the risk-area list the simulation uses names this district
HOME_REGION = "330106"
SIM_ISSUER = "sim-health-authority"


@dataclass(frozen=True)
class Person:
    """One simulated person: what they show, their temperature (and after a rest), their mask."""

    kind: str
    code: str
    celsius: float
    mask: bool = True
    celsius_after_rest: float | None = None
    expect: str = "admit"  # what a correct gate decides (for the simulation's own summary)


class PeopleFactory:
    """Mints people of every kind with one simulation issuer and hands out the matching trust list."""

    KINDS = ("green", "green", "green", "green", "yellow", "red", "expired", "screenshot", "forged",
             "risk_travel", "visitor_no_test", "visitor_tested", "courier", "fever", "fever_then_normal",
             "no_mask", "not_a_code")

    def __init__(self, seed: int | None = None, issuer: str = SIM_ISSUER, key: PrivateKey | None = None,
                 population: int | None = None):
        self.rng = random.Random(seed)
        # A population: every person is one of `population` residents, the same at every gate of one
        # demo (subjects and names follow from the index alone), so an exit gate can walk out the people
        # the entry gates admitted. None: every person is new.
        self.population = population
        self._resident: int | None = None
        # The demo hands every gate the issuer key its hub's trust list trusts; alone, a fresh one.
        self.key = key or generate_private_key("ES256")
        self.forger = generate_private_key("ES256")
        self.issuer = issuer
        self.trust = TrustList([TrustedKey.from_public_key(self.key.public_key(), issuer)])
        self.risk_areas = RiskAreas(regions=[RiskArea(region=RISK_REGION, level="high")])
        self._n = 0

    def _name(self, rng: random.Random | None = None) -> str:
        rng = rng or self.rng
        return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))

    @staticmethod
    def resident_subject(index: int) -> str:
        """The subject id of resident `index` of a population (the same at every gate)."""
        return f"SIM-R{index:06d}"

    def residents(self) -> range:
        """The indexes of the population's residents (empty without a population)."""
        return range(self.population or 0)

    def _holder(self) -> tuple[str, str]:
        """Subject and name of the next code: the chosen resident's, else a new person's."""
        if self._resident is not None:
            return self.resident_subject(self._resident), self._name(random.Random(f"resident-{self._resident}"))
        return f"SIM-{self._n:06d}-{self.rng.randrange(10**6):06d}", self._name()

    def _code(self, now: dt.datetime, *, colour: str = "green", person_class: str = "staff",
              issued_ago: dt.timedelta = dt.timedelta(seconds=20), valid_for: dt.timedelta = dt.timedelta(hours=24),
              test: NucleicAcidTest | None = None, stays: tuple[Stay, ...] = (), forged: bool = False) -> str:
        self._n += 1
        issued = now - issued_ago
        subject, name = self._holder()
        claims = HealthPassClaims(
            issuer=self.issuer, subject=subject,
            issued_at=issued, expires_at=issued + valid_for, name=name, person_class=person_class,
            colour=colour, colour_since=issued - dt.timedelta(days=3), test=test, stays=stays,
        )
        key = self.forger if forged else self.key
        # A forger copies the real key id: only the signature gives it away.
        return mint(claims, key, kid=key_id(self.key.public_key()))

    def person(self, kind: str | None = None, now: dt.datetime | None = None, resident: int | None = None) -> Person:
        """One person of `kind` (random when None); resident `resident` of the population when given."""
        if resident is not None and resident not in self.residents():
            raise ValueError(f"resident {resident} is not in a population of {self.population}")
        self._resident = resident
        try:
            return self._person(kind, now)
        finally:
            self._resident = None

    def holding(self, kind: str, code: str, colour: str) -> Person:
        """A person of `kind` (its temperature and mask) who shows `code`, a pass of `colour` someone else issued."""
        person = self._person(kind, None)
        expect = person.expect if colour == "green" else "deny"
        return dataclasses.replace(person, code=code, expect=expect)

    def _person(self, kind: str | None, now: dt.datetime | None) -> Person:
        now = now or utc_now()
        kind = kind or self.rng.choice(self.KINDS)
        normal = round(self.rng.uniform(36.1, 37.0), 1)
        negative = NucleicAcidTest(at=now - dt.timedelta(hours=20), result="negative")
        make = {
            "green": lambda: Person(kind, self._code(now), normal),
            "yellow": lambda: Person(kind, self._code(now, colour="yellow"), normal, expect="deny"),
            "red": lambda: Person(kind, self._code(now, colour="red"), normal, expect="deny"),
            "expired": lambda: Person(kind, self._code(now, issued_ago=dt.timedelta(days=2),
                                                       valid_for=dt.timedelta(days=1)), normal, expect="deny"),
            "screenshot": lambda: Person(kind, self._code(now, issued_ago=dt.timedelta(hours=3)), normal, expect="deny"),
            "forged": lambda: Person(kind, self._code(now, forged=True), normal, expect="deny"),
            "risk_travel": lambda: Person(kind, self._code(now, stays=(Stay(
                region=RISK_REGION, start=(now - dt.timedelta(days=6)).date(), end=(now - dt.timedelta(days=3)).date()),)),
                normal, expect="deny"),
            "visitor_no_test": lambda: Person(kind, self._code(now, person_class="visitor"), normal, expect="deny"),
            "visitor_tested": lambda: Person(kind, self._code(now, person_class="visitor", test=negative), normal,
                                             expect="deny"),  # no appointment on this gate: refused
            "courier": lambda: Person(kind, self._code(now, person_class="courier", test=negative), normal),
            "fever": lambda: Person(kind, self._code(now), 38.2, celsius_after_rest=38.0, expect="fever"),
            "fever_then_normal": lambda: Person(kind, self._code(now), 37.6, celsius_after_rest=36.8),
            "no_mask": lambda: Person(kind, self._code(now), normal, mask=False, expect="deny"),
            "not_a_code": lambda: Person(kind, "https://example.com/menu?table=7", normal, expect="deny"),
        }
        return make[kind]()
