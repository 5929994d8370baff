"""A gate's documents, one room: for every kind, where it comes from, how it is verified, how it is
installed, what is running, and the watcher that follows its file.

Only the kinds of `protocols.contract.DocumentKind` the gate reads are installed, each checked first
(no kind skips its check), so a hub's answer cannot name a file outside the folder. A signed
document older than the newest one accepted of its kind is refused, also after a restart
(`AcceptedMarks`, `accepted.json` beside the documents): a revocation is never undone by replaying
an older trust list, nor a rule change by an older bundle.

A document comes from the config's file (`[rules] bundle`, `trust_list`) or from the hub: the sync
client fetches each kind into `documents_dir/{kind}` (`DocumentCache.install`: checked by
`GateDocuments.verify`, then renamed over the old one, so a reader sees the old document or the
new one, never half of one; `running.json` lists the version of each, reported to the hub). The
hub's copy wins when it is there and good; a bad one falls back to the configured file. The root
public key is read once, by `GateDocuments`. Whoever uses a document asks its `Watcher`, which
reads the file again when it changes and keeps the last good value when the new one is bad.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from agent.config import RulesSection
from agent.venue_documents import Roster, parse_appointments, parse_roster, pick_appointment
from protocols.bundle import Bundle, BundleKeeper, verify_bundle
from protocols.clock import utc_now
from protocols.contract import DocumentKind
from protocols.clock import utc_text
from protocols.errors import BundleError, CheckpointError, ConfigError, TrustListError
from protocols.keys import PublicKey, load_public_key
from protocols.schedule import Schedule, ScheduleError, verify_schedule
from protocols.trustlist import TrustList

log = logging.getLogger(__name__)

T = TypeVar("T")
# What a bad document file raises while it is read: the watcher keeps the last good value.
_REFUSED = (OSError, ValueError, CheckpointError)


def read_root_key(path: Path | None) -> PublicKey | None:
    """The hub's root public key the bundle and trust list chain to (None: not configured); ConfigError if unreadable."""
    return load_public_key(path) if path is not None else None


class Watcher(Generic[T]):
    """One document file, read again when its mtime changes; a file that does not load keeps the last good value."""

    def __init__(self, path: Path, load: Callable[[Path], T], value: T, loaded_from: Path | None = None):
        self.path = path
        self._load = load
        self.value = value
        # Loaded from the file it follows: unchanged until its mtime moves. Else read it as soon as it appears.
        same = loaded_from is not None and path.exists() and path.resolve() == loaded_from.resolve()
        self._mtime = path.stat().st_mtime if same else None

    @classmethod
    def start(cls, path: Path, load: Callable[[Path], T], follow: Path | None = None) -> "Watcher[T]":
        """Load path now (its errors propagate), then follow `follow` (the hub's copy) or path itself."""
        return cls(follow or path, load, load(path), loaded_from=path)

    def current(self) -> T:
        """The value to use now: the file again if it changed, the last good one if that fails."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return self.value  # never fetched (or not published): keep what was loaded at start
        except OSError as exc:
            log.warning("%s unreadable, keeping the loaded one: %s", self.path, exc)
            return self.value
        if mtime != self._mtime:
            self._mtime = mtime
            try:
                self.value = self._load(self.path)
                log.info("now running %s", self.path)
            except _REFUSED as exc:
                log.warning("%s refused, keeping the last good one: %s", self.path, exc)
        return self.value


class AcceptedMarks:
    """The newest `issued_at` accepted of each signed kind, kept in a file: an older document is a rollback."""

    def __init__(self, path: Path | None):
        """path: the JSON file the marks live in (None: kept in memory only, as long as the process runs)."""
        self.path = path
        self._lock = threading.Lock()
        self._marks: dict[str, dt.datetime] = self._read()

    def _read(self) -> dict[str, dt.datetime]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(kind): dt.datetime.fromisoformat(text) for kind, text in raw.items()}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            # Fail closed: a mark that cannot be read would let any older document back in.
            raise ConfigError(f"{self.path}: the newest accepted documents cannot be read ({exc}); "
                              "restore it or remove it knowingly") from exc

    def mark(self, kind: str) -> dt.datetime | None:
        """The newest issued_at accepted of this kind, None if none yet."""
        with self._lock:
            return self._marks.get(kind)

    def check(self, kind: str, issued_at: dt.datetime | None, error: type[CheckpointError]) -> None:
        """Raise `error` if a document of this kind issued at `issued_at` would be a rollback (or cannot be ordered)."""
        if issued_at is None:
            raise error(f"{kind} carries no issued_at: it cannot be ordered against the one running, refused")
        mark = self.mark(kind)
        if mark is not None and issued_at < mark:
            raise error(f"{kind} issued {utc_text(issued_at)} is older than the one already accepted "
                        f"({utc_text(mark)}): a rollback, refused")

    def accept(self, kind: str, issued_at: dt.datetime | None) -> None:
        """Remember issued_at as the newest of its kind (an older one never lowers the mark)."""
        if issued_at is None:
            return
        with self._lock:
            if kind in self._marks and issued_at <= self._marks[kind]:
                return
            self._marks[kind] = issued_at
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _atomic_write(self.path, json.dumps({k: v.isoformat() for k, v in sorted(self._marks.items())},
                                                    indent=1).encode())


def watch_bundle(path: Path, root: PublicKey, max_age_h: float | None = 24.0,
                 follow: Path | None = None, marks: AcceptedMarks | None = None) -> Watcher[Bundle]:
    """The signed bundle at path, checked against the root key, then followed; ConfigError if unusable now."""
    # No age limit here: a gate back from a long power cut starts with the bundle it holds and the
    # Decider refers everyone while it is too old (max_age_h), until the sync brings a fresh one.
    keeper = BundleKeeper(root, None)
    marks = marks if marks is not None else AcceptedMarks(None)

    def load(p: Path) -> Bundle:
        doc = json.loads(p.read_text(encoding="utf-8"))
        # The marks refuse a bundle older than any accepted before (a restart too); the keeper, older than the one running.
        marks.check(DocumentKind.BUNDLE, verify_bundle(doc, root, utc_now(), None).issued_at, BundleError)
        bundle = keeper.offer(doc, utc_now())
        marks.accept(DocumentKind.BUNDLE, bundle.issued_at)
        return bundle

    try:
        watcher = Watcher.start(path, load, follow)
    except (OSError, ValueError, BundleError) as exc:
        raise ConfigError(f"rule bundle {path}: {exc}") from exc
    if max_age_h is not None and watcher.value.is_stale(utc_now(), dt.timedelta(hours=max_age_h)):
        log.warning("bundle %s is older than %s h: everyone is referred to the guard until a fresh one comes",
                    watcher.value.version, max_age_h)
    log.info("deciding with bundle %s", watcher.value.version)
    return watcher


def watch_trust(path: Path, root: PublicKey | None, follow: Path | None = None,
                marks: AcceptedMarks | None = None, max_age_h: float | None = None) -> Watcher[TrustList]:
    """The signed trust list at path (without a root key: the root-pub.pem beside it), then followed;
    one issued before the newest accepted is refused. One older than max_age_h still loads (a gate back
    from a power cut starts), and the Decider refers everyone while it is (`trust_list_stale`)."""
    marks = marks if marks is not None else AcceptedMarks(None)

    def load(p: Path) -> TrustList:
        trust = TrustList.load(p, root)
        if trust.issued_at is None:
            raise TrustListError("trust list carries no issued_at: its age cannot be checked, refused")
        marks.check(DocumentKind.TRUSTLIST, trust.issued_at, TrustListError)
        marks.accept(DocumentKind.TRUSTLIST, trust.issued_at)
        return trust

    try:
        return Watcher.start(path, load, follow)
    except CheckpointError as exc:
        raise ConfigError(f"trust list {path}: {exc}") from exc


def check_trust_age(trust: TrustList, max_age_h: float | None, at: dt.datetime | None = None) -> None:
    """Raise TrustListError if the list was issued longer than max_age_h before `at` (now): its revocations are stale."""
    if max_age_h is None:
        return
    if trust.issued_at is None:
        raise TrustListError("trust list carries no issued_at: its age cannot be checked, refused")
    age = (at or utc_now()) - trust.issued_at
    if age > dt.timedelta(hours=max_age_h):
        raise TrustListError(f"trust list issued {utc_text(trust.issued_at)}, {age} ago, more than {max_age_h} h: too old")


def document_kind(kind: str) -> DocumentKind:
    """The DocumentKind a name stands for; ValueError for anything else (a path, a typo)."""
    try:
        return DocumentKind(kind)
    except ValueError:
        raise ValueError(f"{kind!r} is not a document kind ({', '.join(k.value for k in DocumentKind)})") from None


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class DocumentCache:
    """The folder of documents a gate runs, with their versions and ETags: the one installer.

    `verify(kind, body)` raises if the document is bad and returns its issued_at (or None);
    `accepted(kind, issued_at)` is told once it is installed. Without a verifier nothing is installed:
    no document reaches the gate unchecked.
    """

    def __init__(self, folder: Path, verify: Callable[[str, bytes], dt.datetime | None] | None = None,
                 accepted: Callable[[str, dt.datetime | None], None] | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.verify = verify
        self.accepted = accepted
        self._lock = threading.Lock()

    def _index(self) -> dict[str, dict[str, str]]:
        path = self.folder / "running.json"
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("running.json unreadable, fetching everything again: %s", exc)
            return {}

    def running(self) -> dict[str, str]:
        """The version of each document the gate runs now (reported to the hub)."""
        return {kind: meta["version"] for kind, meta in self._index().items()}

    def conditional_headers(self, kind: str) -> dict[str, str]:
        """`If-None-Match` for the version held, so an unchanged document costs a 304."""
        etag = self._index().get(kind, {}).get("etag")
        return {"If-None-Match": etag} if etag else {}

    def path(self, kind: str) -> Path:
        """Where the running version of a document is; ValueError for a name that is no DocumentKind."""
        # Only the enum's own values name a file: never a path a hub's answer spelled.
        return self.folder / document_kind(kind).value

    def install(self, kind: str, version: str, etag: str, body: bytes) -> bool:
        """Check and switch to a new version; False (and the old one kept) when it does not verify."""
        try:
            target = self.path(kind)
            if self.verify is None:
                raise ConfigError("no verifier for fetched documents: nothing is installed unchecked")
            issued_at = self.verify(kind, body)
        except (CheckpointError, ValueError) as exc:  # a bad document keeps the old one running
            log.warning("refused %s version %s: %s", kind[:80], version[:80], exc)
            return False
        with self._lock:
            _atomic_write(target, body)
            index = self._index()
            index[target.name] = {"version": version, "etag": etag}
            _atomic_write(self.folder / "running.json", json.dumps(index, sort_keys=True).encode())
            if self.accepted is not None:
                self.accepted(target.name, issued_at)
        log.info("now running %s version %s", kind, version)
        return True


def check_schedule(body: bytes, key: PublicKey | None, marks: AcceptedMarks, venue: str | None = None) -> Schedule:
    """A signed schedule's bytes, checked against `key`, the rollback mark and the gate's venue; ScheduleError if not."""
    if key is None:
        raise ScheduleError("no key to check the schedule with (rules.schedule_public_key or rules.root_public_key)")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise ScheduleError(f"schedule is not JSON: {exc}") from exc
    schedule = verify_schedule(doc, key)
    # One key signs every venue's schedule: another venue's, replayed here, must not open this one's gates.
    if venue is not None and schedule.venue != venue:
        raise ScheduleError(f"schedule is for venue {schedule.venue!r}, this gate is at {venue!r}: refused")
    marks.check(DocumentKind.SCHEDULE, schedule.issued_at, ScheduleError)  # an older one than accepted: a rollback
    return schedule


class VenueDocuments:
    """The roster, appointments and signed schedule the sync client fetched into `folder`, for the loop's decisions."""

    def __init__(self, folder: Path, schedule_key: PublicKey | None = None, marks: AcceptedMarks | None = None,
                 venue: str | None = None):
        """schedule_key: what the schedule must be signed by (None: no schedule is ever used); marks: rollback marks;
        venue: the gate's venue, which the schedule must name."""
        self._lock = threading.Lock()
        folder = Path(folder)
        marks = marks if marks is not None else AcceptedMarks(None)

        def load_schedule(p: Path) -> Schedule:
            schedule = check_schedule(p.read_bytes(), schedule_key, marks, venue)
            marks.accept(DocumentKind.SCHEDULE, schedule.issued_at)
            return schedule

        # Loaded at start when there (a rollback or a bad file: none, so the window rules are OPEN, never a pass).
        self._schedule: Watcher[Schedule | None] = Watcher(folder / DocumentKind.SCHEDULE, load_schedule, None)
        self._roster: Watcher[Roster | None] = Watcher(
            folder / DocumentKind.ROSTER, lambda p: parse_roster(p.read_bytes()), None)
        self._appointments: Watcher[list[dict[str, Any]] | None] = Watcher(
            folder / DocumentKind.APPOINTMENTS, lambda p: parse_appointments(p.read_bytes()), None)

    def facts(self, subject: str, at: dt.datetime) -> tuple[Roster | None, dict[str, Any] | None]:
        """(roster, this holder's appointment) for GateContext; None where no document is loaded."""
        with self._lock:
            roster = self._roster.current()
            appointments = self._appointments.current()
        return roster, (pick_appointment(appointments, subject, at) if appointments else None)

    def schedule(self) -> Schedule | None:
        """The venue's signed schedule now (None: none fetched, or none that verified)."""
        with self._lock:
            return self._schedule.current()


class GateDocuments:
    """Every document one gate runs: configured files, the hub's copies in `folder` (None: no [sync]), the root key."""

    # What the gate installs and reads; parameters and risk areas travel inside the signed bundle.
    READS = (DocumentKind.BUNDLE, DocumentKind.TRUSTLIST, DocumentKind.ROSTER, DocumentKind.APPOINTMENTS,
             DocumentKind.SCHEDULE)

    def __init__(self, rules: RulesSection, folder: Path | None = None, marks: Path | None = None,
                 venue: str | None = None):
        """folder: the hub's copies (None: no [sync]); marks: where the newest accepted issued_at of each kind is
        kept (default: accepted.json in folder; neither: in memory only); venue: the gate's, which a schedule must name."""
        self.rules = rules
        self.venue_id = venue
        self.root = read_root_key(rules.root_public_key)  # read once, for every kind and every new version
        self.schedule_key = read_root_key(rules.schedule_public_key) or self.root
        if marks is None and folder is not None:
            marks = Path(folder) / "accepted.json"
        self.marks = AcceptedMarks(marks)
        self.cache = DocumentCache(folder, self.verify, self.marks.accept) if folder is not None else None

    def synced(self, kind: DocumentKind) -> Path | None:
        """Where the sync client puts a document of this kind, when the gate syncs."""
        return self.cache.path(kind) if self.cache is not None else None

    def configured(self, kind: DocumentKind) -> Path | None:
        """The file the config names for this kind, if any."""
        return {DocumentKind.BUNDLE: self.rules.bundle, DocumentKind.TRUSTLIST: self.rules.trust_list}.get(kind)

    def missing(self) -> list[str]:
        """The bundle and trust list a syncing gate has neither fetched nor configured: ask the hub before starting."""
        if self.cache is None:
            return []
        return [kind.value for kind in (DocumentKind.BUNDLE, DocumentKind.TRUSTLIST)
                if self.configured(kind) is None and not self.cache.path(kind).exists()]

    def verify(self, kind: str, body: bytes) -> dt.datetime | None:
        """What a fetched document must pass before it replaces the running one: its issued_at, or raises if bad."""
        kind = document_kind(kind)
        if kind == DocumentKind.ROSTER:
            parse_roster(body)
            return None
        if kind == DocumentKind.APPOINTMENTS:
            parse_appointments(body)
            return None
        if kind == DocumentKind.SCHEDULE:
            return check_schedule(body, self.schedule_key, self.marks, self.venue_id).issued_at
        if kind not in self.READS:
            raise ConfigError(f"{kind} is not read by the gate (it travels inside the signed bundle): not installed")
        error = BundleError if kind == DocumentKind.BUNDLE else TrustListError
        if self.root is None:
            raise error(f"rules.root_public_key is not set: a fetched {kind} cannot be verified, refused")
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise error(f"{kind} is not JSON: {exc}") from exc
        if kind == DocumentKind.BUNDLE:
            issued_at = verify_bundle(doc, self.root, utc_now(), self._max_age()).issued_at
        else:
            trust = TrustList.from_document(doc, self.root)
            check_trust_age(trust, self.rules.trust_list_max_age_h)
            issued_at = trust.issued_at
        self.marks.check(kind, issued_at, error)  # never an older one than accepted: a rollback
        return issued_at

    def _max_age(self) -> dt.timedelta | None:
        return None if self.rules.bundle_max_age_h is None else dt.timedelta(hours=self.rules.bundle_max_age_h)

    def _open(self, kind: DocumentKind, start: Callable[[Path, Path | None], Watcher[T]], unset: str) -> Watcher[T]:
        """The hub's copy when there and good, else the configured file; either way the hub's copy is followed."""
        synced, configured = self.synced(kind), self.configured(kind)
        if synced is not None and synced.exists():
            try:
                return start(synced, synced)
            except ConfigError as exc:
                if configured is None:
                    raise
                log.warning("fetched %s unusable, starting from %s: %s", kind, configured, exc)
        if configured is None:
            raise ConfigError(unset)
        return start(configured, synced)

    def trust(self) -> Watcher[TrustList]:
        """The trust list to verify codes with: the hub's (with [sync]) or the config's; ConfigError if none."""
        return self._open(DocumentKind.TRUSTLIST,
                          lambda path, follow: watch_trust(path, self.root, follow, self.marks,
                                                           self.rules.trust_list_max_age_h),
                          "rules.trust_list is not set: a gate cannot verify codes without one")

    def bundle(self) -> Watcher[Bundle]:
        """The signed rule bundle to decide with: the hub's (with [sync]) or the config's; ConfigError if none."""
        unset = "rules.bundle and rules.root_public_key must be set: a gate decides by a signed bundle"
        root = self.root
        if root is None:
            raise ConfigError(unset)
        return self._open(DocumentKind.BUNDLE,
                          lambda path, follow: watch_bundle(path, root, self.rules.bundle_max_age_h, follow,
                                                            self.marks), unset)

    def venue(self) -> VenueDocuments | None:
        """The roster, appointments and schedule the hub sent (None without [sync])."""
        return (VenueDocuments(self.cache.folder, self.schedule_key, self.marks, self.venue_id)
                if self.cache is not None else None)
