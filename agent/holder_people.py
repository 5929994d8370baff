"""Simulated people who are the hub's enrolled holders: each shows the pass their holder page gives now.

A holder's link (`checkpoint hub holder-link`) opens their page; its JSON, `<link>/pass`, is the pass the phone
shows, minted by the hub from the roster, the status feeds and the holder's declaration. The simulation reads the
links from a file, one a line, again whenever it changes (the demo writes it once its holders are enrolled), and
fetches a pass over HTTP as the page does: no key of the simulation's signs it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import requests

log = logging.getLogger(__name__)

# The simulator's kinds a holder can be: the colour is the hub's, the temperature and the mask the person's.
# The rest (forged, not a code, an expired pass, an old screenshot, a traveller, a visitor, a courier) stay the
# simulator's own codes: no holder page hands those out, or the demo's roster has no such holder.
HOLDER_KINDS = frozenset({"green", "yellow", "red", "fever", "fever_then_normal", "no_mask"})
FETCH_TIMEOUT_S = 5.0


class HolderLinks:
    """The holder links in a file (one a line, `#` comments), re-read when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._links: list[str] = []
        self.session = requests.Session()

    def links(self) -> list[str]:
        """The links now (none while the file does not exist yet)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if self._seen != (stat.st_mtime, stat.st_size):
            lines = self.path.read_text(encoding="utf-8").splitlines()
            self._links = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
            self._seen = (stat.st_mtime, stat.st_size)
        return list(self._links)

    def current_pass(self, link: str) -> str | None:
        """The pass this holder's page shows now (its `HP1:` text), or None: no pass issued, link gone, hub away."""
        try:
            answer = self.session.get(link.rstrip("/") + "/pass", timeout=FETCH_TIMEOUT_S)
            body = answer.json() if answer.ok else {}
        except (requests.RequestException, ValueError) as exc:
            log.warning("holder page unreachable: %s", exc)
            return None
        if not body.get("ok"):
            log.info("no pass from a holder page: %s", body.get("reason") or answer.status_code)
            return None
        return body["code"]
