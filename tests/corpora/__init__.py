"""The public test corpora the suite reads, vendored beside it (README.md here says where they come from)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def corpus_dir(name: str) -> Path:
    """The folder of one vendored corpus: `certlogic` or `dgc-testdata`."""
    return HERE / name
