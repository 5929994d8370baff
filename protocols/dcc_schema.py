"""The EU DCC payload (hcert) structure, as pydantic models of the eHN DCC JSON schema.

No JSON schema of the DCC ships with the test corpus and `jsonschema` is not a dependency, so
the structure of `DCC.combined-schema.json` (1.3.0, which accepts every earlier version's
documents but for the test entry's `dr`, kept here as optional) is written as pydantic models.
Like the schema, unknown properties are allowed. The schema's `format: date` / `date-time` are
annotations a JSON Schema validator does not assert, and issuers do put date-times where dates
belong (dgc-testdata PL/*/11-13, SG/4 expect that to pass): a date field takes any ISO 8601 date
or date-time, and nothing else, since the rules compute with it.

One check goes beyond the schema's pattern: an entry's `co` must be an ISO 3166-1 alpha-2 code
(pycountry's list) or XK. The schema (1.3.0) describes the field as "ISO 3166 alpha-2 where
possible" and names the value set `country-2-codes`, which is ISO 3166 plus XK (Kosovo:
user-assigned in ISO, listed by the EU); dgc-testdata PL/*/8 (`co` "XY") expects it refused at
schema validation, and no corpus file uses any other kind of code. The other value sets
(manufacturers, products, test devices) change over time and ship only on the EU gateway, so
they are not checked here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from protocols.errors import BadClaims

log = logging.getLogger(__name__)

# SNOMED CT codes of the test-result value set.
NOT_DETECTED = "260415000"
DETECTED = "260373001"
# LOINC code of a nucleic acid amplification test (the value set's other one is a rapid antigen test).
NAAT = "LP6464-4"

Standardised = Annotated[str, Field(pattern=r"^[A-Z<]*$", max_length=80)]
Text80 = Annotated[str, Field(max_length=80)]
# Codes the EU country-2-codes value set holds beyond ISO 3166-1 (its "XK" entry, Kosovo).
EU_EXTRA_COUNTRIES = frozenset({"XK"})


@cache
def country_codes() -> frozenset[str]:
    """The country codes `co` may hold: ISO 3166-1 alpha-2 (pycountry) and the EU's extra XK."""
    return frozenset(c.alpha_2 for c in pycountry.countries) | EU_EXTRA_COUNTRIES


def _country_code(value: str) -> str:
    # Membership in the exact upper-case set: pycountry's own lookup ignores case, the DCC does not.
    if value not in country_codes():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


# The schema's own pattern (unanchored "[A-Z]{1,10}") is kept; the code list then narrows it.
Country = Annotated[str, Field(pattern=r"[A-Z]{1,10}"), AfterValidator(_country_code)]
DosePosInt = Annotated[int, Field(ge=1)]


class _Entry(BaseModel):
    """Fields every entry of the DCC has; extra properties pass, as the JSON schema lets them."""

    model_config = ConfigDict(extra="allow", strict=True)
    tg: str
    co: Country
    is_: Text80 = Field(alias="is")
    ci: Text80


class PersonName(BaseModel):
    """Surname(s) and forename(s), as written and as ICAO 9303 transliterated."""

    model_config = ConfigDict(extra="allow", strict=True)
    fn: Text80 | None = None
    fnt: Standardised
    gn: Text80 | None = None
    gnt: Standardised | None = None


class Vaccination(_Entry):
    """A vaccination entry."""

    vp: str
    mp: str
    ma: str
    dn: DosePosInt
    sd: DosePosInt
    dt: str

    @field_validator("dt")
    @classmethod
    def _full_date(cls, value: str) -> str:
        return _date(value)


class Test(_Entry):
    """A test entry (NAAT or rapid antigen)."""

    tt: str
    nm: Text80 | None = None
    ma: str | None = None
    sc: str
    dr: str | None = None  # schema 1.0.0-1.2.1 only: date and time of the result
    tr: str
    tc: Text80 | None = None

    @field_validator("sc", "dr")
    @classmethod
    def _date_time(cls, value: str | None) -> str | None:
        return value if value is None else _datetime(value)


class Recovery(_Entry):
    """A recovery entry."""

    fr: str
    df: str
    du: str

    @field_validator("fr", "df", "du")
    @classmethod
    def _full_dates(cls, value: str) -> str:
        return _date(value)


class HealthCertificate(BaseModel):
    """The DCC payload: who, and exactly one vaccination, test or recovery entry."""

    model_config = ConfigDict(extra="allow", strict=True)
    ver: Annotated[str, Field(pattern=r"^\d+.\d+.\d+$")]
    nam: PersonName
    dob: Annotated[str, Field(pattern=r"^((19|20)\d\d(-\d\d){0,2}){0,1}$")]
    v: Annotated[list[Vaccination], Field(min_length=1, max_length=1)] | None = None
    t: Annotated[list[Test], Field(min_length=1, max_length=1)] | None = None
    r: Annotated[list[Recovery], Field(min_length=1, max_length=1)] | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> "HealthCertificate":
        kinds = [k for k in ("v", "t", "r") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"a DCC holds exactly one of v, t, r; this one holds {kinds or 'none'}")
        return self

    @property
    def kind(self) -> str:
        """"v", "t" or "r": what the certificate states."""
        return next(k for k in ("v", "t", "r") if getattr(self, k) is not None)


def validate_hcert(hcert: Any) -> HealthCertificate:
    """Check a JSON-able hcert against the DCC schema or raise BadClaims naming the first problem."""
    if not isinstance(hcert, Mapping):
        raise BadClaims("the DCC payload is not an object")
    try:
        return HealthCertificate.model_validate(dict(hcert))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "hcert"
        raise BadClaims(f"DCC schema: {where}: {first['msg']}") from exc


def statement_kind(hcert: Any) -> str:
    """The kind of statement ("v", "t" or "r") an hcert holds, schema aside, or raise BadClaims."""
    kinds = [k for k in ("v", "t", "r") if isinstance(hcert, Mapping) and k in hcert]
    if len(kinds) != 1:
        raise BadClaims(f"a DCC holds exactly one of v, t, r; this one holds {kinds or 'none'}")
    return kinds[0]


def parse_datetime(value: str) -> dt.datetime:
    """An ISO 8601 date-time as an aware datetime (no zone means UTC), or raise ValueError."""
    t = dt.datetime.fromisoformat(value.strip())
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


def _date(value: str) -> str:
    # A ValueError here is reported by pydantic as a schema error naming the field.
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        parse_datetime(value)
    return value


def _datetime(value: str) -> str:
    parse_datetime(value)
    return value
