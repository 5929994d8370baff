"""`checkpoint hub ... --database URL` on either engine, `--db PATH` as the SQLite shorthand, the environment's
$CHECKPOINT_DATABASE_URL; a bad or unreachable database is one line naming the option or the database."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from demo.processes import free_port
from server.store_migrate import revisions
from server.cli import hub as hub_cli

STRONG = "quiet-harbour-lantern-42"


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(hub_cli, list(args), env=env or {"CHECKPOINT_DATABASE_URL": ""})


def test_every_step_runs_on_the_database_the_url_names(hub_database: str) -> None:
    # No CHECKPOINT_DATABASE_URL in the environment: only the option says where.
    result = _run("init", "--database", hub_database, "--password", STRONG)
    assert result.exit_code == 0, result.output
    assert f"schema ready ({len(revisions())} migrations applied now)" in result.output
    assert _run("migrate", "--database", hub_database).output.endswith("schema ready (nothing to do)\n")
    result = _run("add-venue", "--database", hub_database, "--venue", "acme", "--cap", "5", "--gate", "north")
    assert result.exit_code == 0, result.output
    token = _run("enroll-token", "--database", hub_database, "--venue", "acme", "--gate", "north").output.strip()
    assert len(token) > 20
    status = json.loads(_run("status", "--database", hub_database, "--venue", "acme").output)
    assert status["occupancy"]["cap"] == 5 and list(status["running"]) == ["north"]


def test_the_environment_names_the_database_and_db_on_the_command_line_wins(hub_database: str, tmp_path: Path) -> None:
    env = {"CHECKPOINT_DATABASE_URL": hub_database}
    assert _run("init", "--password", STRONG, env=env).exit_code == 0
    assert _run("add-venue", "--venue", "acme", env=env).exit_code == 0
    assert json.loads(_run("status", "--venue", "acme", env=env).output)["venue"] == "acme"
    other = tmp_path / "other" / "hub.db"
    other.parent.mkdir()
    result = _run("init", "--db", str(other), "--password", STRONG, env=env)
    assert result.exit_code == 0 and str(other) in result.output
    assert "no venue 'acme'" in _run("status", "--db", str(other), "--venue", "acme", env=env).output


def test_a_bad_url_names_its_option_or_variable(tmp_path: Path) -> None:
    result = _run("status", "--database", "ftp://example/x", "--venue", "acme")
    assert result.exit_code == 2 and "--database" in result.output and "unsupported database" in result.output
    result = _run("status", "--venue", "acme", env={"CHECKPOINT_DATABASE_URL": "mysql://root@localhost/x"})
    assert result.exit_code == 2 and "$CHECKPOINT_DATABASE_URL" in result.output
    result = _run("status", "--db", str(tmp_path / "a.db"), "--database", "sqlite:///b.db", "--venue", "acme")
    assert result.exit_code == 2 and "--db" in result.output and "--database" in result.output
    assert not (tmp_path / "a.db").exists()


def test_an_unreachable_server_is_one_line_without_its_password() -> None:
    url = f"postgresql://checkpoint:s3cret-pass@127.0.0.1:{free_port()}/hub"  # nothing listens there
    result = _run("migrate", "--database", url)
    assert result.exit_code == 2, result.output
    assert "cannot open the hub database" in result.output and "127.0.0.1" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "s3cret-pass" not in result.output and "Traceback" not in result.output
