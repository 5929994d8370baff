"""The hub's `replay` command at the gate: its own recorded decisions of the last day replayed against a
candidate bundle before a supervisor publishes it.

The inputs stay here, as always (docs/rules.md, Backtests): the gate verifies the candidate against its root
key, replays what it recorded with the venue's daily controls of its current schedule laid over the candidate
(as it would decide with it), and answers only counts and the changed decisions: the time, the old and the new
decision and the rules that did not pass. No subject, no name, no event id leaves the gate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.store import read_decisions
from protocols.bundle import bundle_from_body
from protocols.clock import utc_now, utc_seconds
from protocols.controls import Controls
from protocols.decision import backtest
from protocols.errors import BundleError
from protocols.keys import PublicKey
from protocols.signed import verify_document
from protocols.topics import MAX_CHANGES, ReplayChange, ReplayResult

REPLAY_WINDOW = dt.timedelta(days=1)


def replay_candidate(doc: Mapping[str, Any] | None, root_key: PublicKey | None, store_path: Path,
                     controls: Controls | None, now: dt.datetime | None = None) -> ReplayResult:
    """Replay the last day's recorded decisions in the store against the signed candidate `doc`;
    BundleError when it is missing, not signed by the root key or not a bundle."""
    if doc is None:
        raise BundleError("the replay command carries no candidate bundle")
    if root_key is None:
        raise BundleError("rules.root_public_key is not set: a candidate bundle cannot be verified")
    # Its signature and shape, not its dates: a candidate valid from tomorrow is what a preview is for.
    candidate = bundle_from_body(verify_document(doc, root_key, error=BundleError))
    now = now or utc_now()
    since = now - REPLAY_WINDOW
    run = backtest(candidate, read_decisions(store_path, since=since), controls, keep=MAX_CHANGES)
    changes = [ReplayChange(at=str(c["at"])[:40], was=c["was"], now=c["now"], rules=c["reasons"][:64])
               for c in run.changes if c["was"] in ("admit", "deny", "refer")]
    return ReplayResult(bundle=candidate.version[:200], since=utc_seconds(since), replayed=run.replayed,
                        changed=run.changed, skipped=run.skipped, changes=changes)
