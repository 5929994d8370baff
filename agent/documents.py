"""A gate's documents, one room: for every kind, where it comes from, how it is verified, how it is
installed, what is running, and the watcher that follows its file.

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
from protocols.errors import BundleError, CheckpointError, ConfigError
from protocols.keys import PublicKey, load_public_key
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


def watch_bundle(path: Path, root: PublicKey, max_age_h: float | None = 24.0,
                 follow: Path | None = None) -> Watcher[Bundle]:
    """The signed bundle at path, checked against the root key, then followed; ConfigError if unusable now."""
    keeper = BundleKeeper(root, None if max_age_h is None else dt.timedelta(hours=max_age_h))

    def load(p: Path) -> Bundle:
        # The keeper also refuses a bundle issued before the one running.
        return keeper.offer(json.loads(p.read_text(encoding="utf-8")), utc_now())

    try:
        watcher = Watcher.start(path, load, follow)
    except (OSError, ValueError, BundleError) as exc:
        raise ConfigError(f"rule bundle {path}: {exc}") from exc
    log.info("deciding with bundle %s", watcher.value.version)
    return watcher


def watch_trust(path: Path, root: PublicKey | None, follow: Path | None = None) -> Watcher[TrustList]:
    """The signed trust list at path (without a root key: the root-pub.pem beside it), then followed."""
    try:
        return Watcher.start(path, lambda p: TrustList.load(p, root), follow)
    except CheckpointError as exc:
        raise ConfigError(f"trust list {path}: {exc}") from exc


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class DocumentCache:
    """The folder of documents a gate runs, with their versions and ETags: the one installer."""

    def __init__(self, folder: Path, verify: Callable[[str, bytes], None] | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.verify = verify
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
        """Where the running version of a document is."""
        return self.folder / kind

    def install(self, kind: str, version: str, etag: str, body: bytes) -> bool:
        """Check and switch to a new version; False (and the old one kept) when it does not verify."""
        if self.verify is not None:
            try:
                self.verify(kind, body)
            except (CheckpointError, ValueError) as exc:  # a bad document keeps the old one running
                log.warning("refused %s version %s: %s", kind, version, exc)
                return False
        with self._lock:
            _atomic_write(self.path(kind), body)
            index = self._index()
            index[kind] = {"version": version, "etag": etag}
            _atomic_write(self.folder / "running.json", json.dumps(index, sort_keys=True).encode())
        log.info("now running %s version %s", kind, version)
        return True


class VenueDocuments:
    """The roster and appointments the sync client fetched into `folder`, for the loop's decisions."""

    def __init__(self, folder: Path):
        self._lock = threading.Lock()
        folder = Path(folder)
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


class GateDocuments:
    """Every document one gate runs: configured files, the hub's copies in `folder` (None: no [sync]), the root key."""

    def __init__(self, rules: RulesSection, folder: Path | None = None):
        self.rules = rules
        self.root = read_root_key(rules.root_public_key)  # read once, for every kind and every new version
        self.cache = DocumentCache(folder, self.verify) if folder is not None else None

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

    def verify(self, kind: str, body: bytes) -> None:
        """What a fetched document must pass before it replaces the running one; raises if it is bad."""
        if kind == DocumentKind.ROSTER:
            parse_roster(body)
            return
        if kind == DocumentKind.APPOINTMENTS:
            parse_appointments(body)
            return
        if self.root is None or kind not in (DocumentKind.BUNDLE, DocumentKind.TRUSTLIST):
            return
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise BundleError(f"{kind} is not JSON: {exc}") from exc
        if kind == DocumentKind.BUNDLE:
            verify_bundle(doc, self.root, utc_now(), self._max_age())
        else:
            TrustList.from_document(doc, self.root)

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
        return self._open(DocumentKind.TRUSTLIST, lambda path, follow: watch_trust(path, self.root, follow),
                          "rules.trust_list is not set: a gate cannot verify codes without one")

    def bundle(self) -> Watcher[Bundle]:
        """The signed rule bundle to decide with: the hub's (with [sync]) or the config's; ConfigError if none."""
        unset = "rules.bundle and rules.root_public_key must be set: a gate decides by a signed bundle"
        root = self.root
        if root is None:
            raise ConfigError(unset)
        return self._open(DocumentKind.BUNDLE,
                          lambda path, follow: watch_bundle(path, root, self.rules.bundle_max_age_h, follow), unset)

    def venue(self) -> VenueDocuments | None:
        """The roster and appointments the hub sent (None without [sync])."""
        return VenueDocuments(self.cache.folder) if self.cache is not None else None
