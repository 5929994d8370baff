"""Where the public test corpora live: `shared/corpora` beside the repository, here and in CI."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def corpus_dir(name: str) -> Path:
    """The folder of one corpus ($CHECKPOINT_CORPORA first, then ../shared/corpora); tests fail if absent."""
    candidates = [REPO.parent / "shared" / "corpora" / name]
    if os.environ.get("CHECKPOINT_CORPORA"):
        candidates.insert(0, Path(os.environ["CHECKPOINT_CORPORA"]) / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    # Return the expected place: tests that read it fail with the path in the message.
    return candidates[-1]
