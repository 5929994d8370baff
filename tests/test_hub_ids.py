"""Venue and gate ids: the CLI takes exactly the ids the API takes (they are MQTT topic segments),
and a bad row already in a database cannot break the broker files."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli import hub
from server.store import HubStore
from tests.test_hub_api import ADMIN, make_hub

BAD = ["a/b", "a+b", "#", "a b", "场所", "acme\n", "", "$SYS", "x" * 65]
GOOD = ["acme", "g-0", "north_1.a", "x" * 64]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "hub.db"
    assert CliRunner().invoke(hub, ["init", "--db", str(path), "--password", "quiet-harbour-lantern"]).exit_code == 0
    return path


def _venues(db: Path) -> list[str]:
    with closing(HubStore(db)) as store:
        return [v["id"] for v in store.venues()]


@pytest.mark.parametrize("bad", BAD)
def test_the_cli_refuses_a_venue_or_gate_id_the_api_refuses_naming_it(db: Path, tmp_path: Path, bad: str) -> None:
    _, client = make_hub(tmp_path / "api", venues={"elsewhere": {}}, gates=0)
    assert client.post("/api/v1/venues", json={"id": bad}, headers=ADMIN).status_code == 422
    runner = CliRunner()
    for args in (["--venue", bad], ["--venue", "acme", "--gate", bad], ["--venue", "acme", "--exit-gate", bad]):
        out = runner.invoke(hub, ["add-venue", "--db", str(db), *args])
        assert out.exit_code == 2 and repr(bad) in out.output and "Traceback" not in out.output, out.output
    assert _venues(db) == []
    runner.invoke(hub, ["add-venue", "--db", str(db), "--venue", "acme"])
    out = runner.invoke(hub, ["enroll-token", "--db", str(db), "--venue", "acme", "--gate", bad])
    assert out.exit_code == 2 and repr(bad) in out.output
    with closing(HubStore(db)) as store:
        assert store.gates("acme") == []


@pytest.mark.parametrize("good", GOOD)
def test_the_cli_takes_every_id_the_api_takes(db: Path, tmp_path: Path, good: str) -> None:
    _, client = make_hub(tmp_path / "api", venues={"elsewhere": {}}, gates=0)
    assert client.post("/api/v1/venues", json={"id": good}, headers=ADMIN).status_code == 201
    out = CliRunner().invoke(hub, ["add-venue", "--db", str(db), "--venue", good, "--gate", good])
    assert out.exit_code == 0, out.output
    assert _venues(db) == [good]


def test_a_device_on_a_bad_gate_row_is_left_out_of_the_broker_files_with_a_warning(db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(hub, ["add-venue", "--db", str(db), "--venue", "acme", "--gate", "g0"]).exit_code == 0
    store = HubStore(db)
    good, _ = store.redeem_token(store.create_enroll_token("acme", "g0"))
    # A row made before the CLI checked ids (the store itself does not).
    store.create_gate("acme", "bad gate")
    bad, _ = store.redeem_token(store.create_enroll_token("acme", "bad gate"))
    out = runner.invoke(hub, ["mosquitto-config", "--db", str(db), "--out", str(tmp_path / "broker")])
    assert out.exit_code == 0, out.output
    assert bad.id in out.output and "'bad gate'" in out.output
    passwd, acl = (tmp_path / "broker" / "passwd").read_text(), (tmp_path / "broker" / "acl").read_text()
    assert good.id in passwd and good.id in acl
    assert bad.id not in passwd and bad.id not in acl
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM gates WHERE id = 'bad gate'").fetchone()[0] == 1
