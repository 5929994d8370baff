"""The hub database holds the console's signing key: it and its WAL files are readable by the owner only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from server.app import create_app

CLI = [sys.executable, "-c", "from checkpoint.cli import main; main()"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.slow  # runs `checkpoint hub init` as a process
def test_a_new_hub_database_and_its_wal_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which made hub.db 0644
    try:
        db = tmp_path / "hub.db"
        app = create_app({"DATABASE": str(db), "TESTING": True})
        with app.test_client() as client:
            assert client.get("/console/login").status_code == 200
        cli_db = tmp_path / "cli" / "hub.db"
        cli_db.parent.mkdir()
        subprocess.run([*CLI, "hub", "init", "--db", str(cli_db)], check=True, capture_output=True)
    finally:
        os.umask(old)
    for path in (db, cli_db, *tmp_path.glob("**/hub.db-wal")):
        assert _mode(path) & 0o077 == 0, (path, oct(_mode(path)))


def test_an_existing_world_readable_database_is_made_private_at_start(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    create_app({"DATABASE": str(db)})
    db.chmod(0o644)
    create_app({"DATABASE": str(db)})
    assert _mode(db) == 0o600
