"""Issuing: the hub mints a venue's `HP1:` pass from what it currently knows about a person.

Each venue has its own issuer key (a private key file, mode 0600, in the hub's issuer-key folder);
its public key goes into the venue's trust list (`checkpoint hub issuer-key` prints the entry), so
the venue's gates verify the hub's passes exactly as any other. Issuing never hands out a green
pass from stale data: each status source has a maximum age (POLICY.md "Where each input comes
from"), and a refusal carries a reason the holder reads on the page, Chinese first.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols.clock import utc_now
from protocols.cose import PrivateKey
from protocols.credential import Goods, NucleicAcidTest, Stay, VisitWindow
from protocols.errors import CheckpointError
from protocols.healthpass import mint
from protocols.healthpass_claims import HealthPassClaims
from protocols.keys import generate_private_key, load_private_key, save_private_key
from protocols.trustlist import TrustedKey

# POLICY.md section 6, "Where a pass's facts come from, and how old they may be": the authority's colour
# holds 24 h since the feed's record; a nucleic-acid result holds for the venue's test window (48 h unless
# the venue says 72 h or 7 days); the holder's travel declaration holds 24 h since it was declared. A venue
# may change each (venue settings colour_max_age_hours, test_window_hours, declaration_max_age_hours).
DEFAULT_COLOUR_MAX_AGE_HOURS = 24
COLOUR_MAX_AGE = dt.timedelta(hours=DEFAULT_COLOUR_MAX_AGE_HOURS)
DEFAULT_TEST_WINDOW_HOURS = 48
DEFAULT_DECLARATION_MAX_AGE_HOURS = 24
DEFAULT_PASS_MINUTES = 5
MAX_PASS_MINUTES = 60  # a gate refuses passes issued longer ago than its pack's codeMaxAgeMinutes (10) anyway
_VENUE_FILE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class IssueRefused(CheckpointError):
    """The hub will not issue this person a pass now: `reason` is stable, `message` is for the holder."""

    reason = "issue_refused"

    def __init__(self, reason: str, message: str):
        super().__init__(message, reason=reason)
        self.message = message


# What the holder reads when no pass can be issued (zh first, English beside).
REFUSALS = {
    "no_status": "暂无健康码状态，请联系场所管理员 / No health status on record yet: ask the venue's office",
    "stale_colour": "健康码状态已超过 {hours} 小时未更新，暂不能发放通行码 / Your health status has not been updated for "
                    "{hours} hours: no pass until it is",
    "no_declaration": "请先在本页申报近 14 天行程 / Declare where you stayed in the last 14 days on this page first",
    "stale_declaration": "行程申报已超过 {hours} 小时，请在本页重新申报 / Your travel declaration is over {hours} hours "
                         "old: declare again on this page",
    "visit_not_started": "访问时段尚未开始 / Your visit has not started yet",
    "visit_over": "访问时段已结束 / Your visit is over",
    "no_issuer_key": "场所尚未配置发码密钥 / The venue has no issuer key yet: ask the venue's office",
}


def refuse(reason: str, **values: Any) -> IssueRefused:
    """The refusal for this reason, with the holder's text (its {hours} filled from `values`)."""
    return IssueRefused(reason, REFUSALS[reason].format(**values))


def _hours(age: dt.timedelta) -> str:
    return f"{age.total_seconds() / 3600:g}"


@dataclass(frozen=True)
class PersonStatus:
    """What the hub knows about one person at one venue, with when each source last said it."""

    subject: str  # pseudonymous (the venue's keyed hash of the ID number), never the number itself
    name: str  # masked
    person_class: str
    group: str | None = None
    colour: str | None = None
    colour_since: dt.datetime | None = None  # when the authority set the colour
    colour_recorded_at: dt.datetime | None = None  # the feed record's time: what the 24 h count from
    test: NucleicAcidTest | None = None
    stays: Sequence[Stay] = ()
    declared_at: dt.datetime | None = None  # when the holder last declared their stays (None: never)
    window: VisitWindow | None = None  # visitors: the approved visit
    goods: Sequence[Goods] = field(default_factory=tuple)


@dataclass(frozen=True)
class IssuePolicy:
    """A venue's issuing settings."""

    issuer: str
    pass_minutes: int = DEFAULT_PASS_MINUTES
    test_window: dt.timedelta = dt.timedelta(hours=DEFAULT_TEST_WINDOW_HOURS)  # the lab's (and manual) result
    colour_max_age: dt.timedelta = COLOUR_MAX_AGE
    declaration_max_age: dt.timedelta = dt.timedelta(hours=DEFAULT_DECLARATION_MAX_AGE_HOURS)

    @classmethod
    def for_venue(cls, venue: Mapping[str, Any]) -> "IssuePolicy":
        """The policy of a venue row (NULL settings take the defaults)."""
        def hours(column: str, default: int) -> dt.timedelta:
            return dt.timedelta(hours=venue.get(column) or default)

        return cls(issuer=issuer_name(venue["id"]),
                   pass_minutes=venue.get("pass_minutes") or DEFAULT_PASS_MINUTES,
                   test_window=hours("test_window_hours", DEFAULT_TEST_WINDOW_HOURS),
                   colour_max_age=hours("colour_max_age_hours", DEFAULT_COLOUR_MAX_AGE_HOURS),
                   declaration_max_age=hours("declaration_max_age_hours", DEFAULT_DECLARATION_MAX_AGE_HOURS))


def issuer_name(venue_id: str) -> str:
    """The `iss` of the hub's passes for this venue (and of its trust-list entry)."""
    return f"hub:{venue_id}"[:64]


def pass_claims(status: PersonStatus, policy: IssuePolicy, now: dt.datetime | None = None) -> HealthPassClaims:
    """The claims of the pass to issue now, or IssueRefused with the holder's reason."""
    now = (now or utc_now()).replace(microsecond=0)
    if status.colour is None or status.colour_recorded_at is None:
        raise refuse("no_status")
    colour_expires = status.colour_recorded_at + policy.colour_max_age
    expires = now + dt.timedelta(minutes=max(1, min(policy.pass_minutes, MAX_PASS_MINUTES)))
    if status.colour == "green":
        # A yellow or red colour, however old, only refuses: it may be shown; a stale green may not, and
        # neither may a green whose stays are unknown or stale (the gate would read "no stay anywhere").
        if now >= colour_expires:
            raise refuse("stale_colour", hours=_hours(policy.colour_max_age))
        if status.declared_at is None:
            raise refuse("no_declaration")
        declaration_expires = status.declared_at + policy.declaration_max_age
        if now >= declaration_expires:
            raise refuse("stale_declaration", hours=_hours(policy.declaration_max_age))
        # The pass never outlives the freshness of its green or of its stays.
        expires = min(expires, colour_expires, declaration_expires)
    if status.window is not None:
        if now < status.window.start:
            raise refuse("visit_not_started")
        if now >= status.window.end:
            raise refuse("visit_over")
        expires = min(expires, status.window.end)
    # A test older than the venue's window is no test: leave it out, the gate's rules then ask for one.
    test = status.test if status.test is not None and now - status.test.at <= policy.test_window else None
    return HealthPassClaims(
        issuer=policy.issuer, subject=status.subject, issued_at=now, expires_at=expires,
        name=status.name, person_class=status.person_class, colour=status.colour,
        colour_since=status.colour_since, test=test, stays=tuple(status.stays),
        group=status.group, window=status.window, goods=tuple(status.goods),
    )


def issue(status: PersonStatus, policy: IssuePolicy, key: PrivateKey, now: dt.datetime | None = None) -> tuple[str, HealthPassClaims]:
    """Mint the pass: its `HP1:` text and its claims (IssueRefused when none may be issued)."""
    claims = pass_claims(status, policy, now)
    return mint(claims, key), claims


class IssuerKeys:
    """The hub's issuer keys, one PEM file per venue in one folder (0700), each file 0600."""

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        self._cache: dict[str, PrivateKey] = {}

    def path(self, venue_id: str) -> Path:
        """The key file of this venue."""
        if not _VENUE_FILE.fullmatch(venue_id) or venue_id.startswith("."):
            raise ValueError(f"venue id {venue_id!r} cannot name a key file")
        return self.folder / f"{venue_id}.pem"

    def create(self, venue_id: str, alg: str = "ES256") -> PrivateKey:
        """The venue's key, generated (mode 0600) when it has none yet."""
        path = self.path(venue_id)
        if path.exists():
            return self.key(venue_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        key = generate_private_key(alg)  # type: ignore[arg-type]
        save_private_key(key, path)
        self._cache[venue_id] = key
        return key

    def key(self, venue_id: str) -> PrivateKey:
        """The venue's key (IssueRefused no_issuer_key when it has none)."""
        if venue_id not in self._cache:
            path = self.path(venue_id)
            if not path.exists():
                raise refuse("no_issuer_key")
            self._cache[venue_id] = load_private_key(path)
        return self._cache[venue_id]

    def trusted_key(self, venue_id: str) -> TrustedKey:
        """The venue's trust-list entry for the hub's passes (may sign HP1 only)."""
        return TrustedKey.from_public_key(self.key(venue_id).public_key(), issuer_name(venue_id))


def default_key_folder(database: str) -> Path:
    """Where the issuer keys live: $CHECKPOINT_ISSUER_KEYS, else `issuer-keys/` beside a SQLite file, else ./issuer-keys."""
    configured = os.environ.get("CHECKPOINT_ISSUER_KEYS")
    if configured:
        return Path(configured)
    if "://" not in database:
        return Path(database).resolve().parent / "issuer-keys"
    return Path.cwd() / "issuer-keys"
