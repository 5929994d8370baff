"""End to end: a simulated gate records what its rules saw, `agent export-decisions` writes it out, and
`rules backtest` replays it under a lower fever threshold: exactly the 37.1 °C admits become denials."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3

import pytest
from click.testing import CliRunner

from agent.store import AgentStore
from protocols.bundle import sign_bundle
from checkpoint.cli import main as checkpoint
from protocols.keys import generate_private_key, save_private_key
from protocols.verify import verify_code
from tests.agent_gate_helpers import ENV, start_simulation

pytestmark = pytest.mark.slow  # real processes or a browser: outside the fast loop

# (kind, first reading, reading after the rest or None, the gate's decisions, which of them a 37.0 °C threshold changes)
VISITS = [
    ("green", 37.1, None, ["admit"], [True]),
    ("green", 36.5, None, ["admit"], [False]),
    ("fever", 37.4, 37.4, ["deny", "deny"], [False, False]),  # still hot after the rest: a fever either way
    ("fever", 37.4, 36.8, ["deny", "admit"], [False, False]),  # 36.8 is normal under both thresholds
    ("fever", 37.4, 37.1, ["deny", "admit"], [False, True]),  # a 37.1 re-measure admits today, not at 37.0
    ("red", 37.1, None, ["deny"], [False]),  # refused for its colour under both
    ("green", 37.1, None, ["admit"], [True]),
]


def run_cli(*args: str) -> str:
    """Run `checkpoint ...` in-process; fail with its output if it does not exit 0."""
    result = CliRunner().invoke(checkpoint, list(args), env=ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def backtest_lines(bundle, events) -> tuple[list[dict], dict]:
    """The changed decisions and the summary `rules backtest` prints."""
    lines = [json.loads(line) for line in run_cli("rules", "backtest", "--bundle", str(bundle),
                                                  "--events", str(events)).splitlines()]
    return lines[:-1], lines[-1]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A gate that saw VISITS: (its store, its events per visit, the people's raw subjects and names, the bundle it ran)."""
    gate_dir = tmp_path_factory.mktemp("gate")
    sim = start_simulation(gate_dir, seed=11)
    visits, identities = [], []
    try:
        for kind, first, again, _, _ in VISITS:
            person = dataclasses.replace(sim.factory.person(kind), celsius=first, celsius_after_rest=again)
            cred = verify_code(person.code, sim.factory.trust, dt.datetime.now(dt.timezone.utc)).credential
            identities.append((cred.subject, cred.name))
            visits.append(sim.visit(person))
        bundle = sim.gate.loop.decider.bundle
    finally:
        sim.close()
    return gate_dir / "agent.sqlite", visits, identities, bundle


def test_a_lower_fever_threshold_changes_exactly_the_recorded_37_1_admits(tmp_path, recorded):
    store, visits, identities, ran = recorded
    assert [[e.decision for e in events] for events in visits] == [v[3] for v in VISITS]
    expected = {e.id for events, v in zip(visits, VISITS) for e, changes in zip(events, v[4]) if changes}
    assert len(expected) == 3

    out = tmp_path / "decisions.jsonl"
    run_cli("agent", "export-decisions", "--store", str(store), "--out", str(out))
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in exported] == [e.id for events in visits for e in events]
    assert [r["decision"] for r in exported] == [d for v in VISITS for d in v[3]]

    root = save_private_key(generate_private_key("ES256"), tmp_path / "root-key.pem")
    # The very bundle the gate ran: replaying under it changes nothing.
    same = tmp_path / "same.json"
    same.write_text(json.dumps(sign_bundle(ran, generate_private_key("ES256"))), encoding="utf-8")
    changed, summary = backtest_lines(same, out)
    assert changed == [] and summary["replayed"] == len(exported) and summary["skipped"] == 0

    # A new bundle, built the way a supervisor builds one: the same pack and risk areas, feverDeci 370.
    (tmp_path / "params.json").write_text(json.dumps({"feverDeci": 370}), encoding="utf-8")
    (tmp_path / "risk.json").write_text(ran.risk_areas.model_dump_json(), encoding="utf-8")
    new = tmp_path / "new.json"
    run_cli("rules", "bundle", "--pack", "factory-gate", "--params", str(tmp_path / "params.json"),
            "--risk-areas", str(tmp_path / "risk.json"), "--key", str(root), "--out", str(new))
    changed, summary = backtest_lines(new, out)
    assert {c["id"] for c in changed} == expected
    assert all(c["was"] == "admit" and c["now"] == "deny" for c in changed)
    assert summary == {**summary, "replayed": len(exported), "changed": 3, "skipped": 0}

    # The since/until window selects by the moment the rules decided.
    second_visit_at = exported[1]["at"]
    run_cli("agent", "export-decisions", "--store", str(store), "--since", second_visit_at, "--out", str(out))
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [r["id"] for r in exported[1:]]


def test_the_recorded_inputs_hold_no_subject_id_nor_name_and_are_purged_with_their_events(tmp_path, recorded):
    recorded_store, visits, identities, _ = recorded
    path = tmp_path / "agent.sqlite"
    with sqlite3.connect(recorded_store) as source, sqlite3.connect(path) as copy:
        source.backup(copy)  # the purge below must not change the store the other test reads
    with sqlite3.connect(path) as db:
        rows = [json.loads(r[0]) for r in db.execute("SELECT inputs FROM decision_inputs")]
        dump = db.execute("SELECT group_concat(inputs, '') FROM decision_inputs").fetchone()[0]
    assert len(rows) == sum(len(events) for events in visits)
    for subject, name in identities:
        assert subject not in dump and name not in dump
    store = AgentStore(path, bytes.fromhex(ENV["CHECKPOINT_SUBJECT_KEY"]))
    try:
        # The subject the rules saw is the store's keyed hash, the same the event carries.
        hashed = [r["payload"]["sub"] for r in rows if r["payload"] is not None]
        assert hashed == [e.subject for events in visits for e in events if e.subject]
        assert all("name" not in r["payload"] and "kid" not in r["payload"] and "iss" not in r["payload"]
                   for r in rows if r["payload"] is not None)
        # Nothing of the inputs reaches the hub: the outbox carries the GateEvent alone.
        assert all("inputs" not in item.payload and "external" not in item.payload for item in store.outbox_pending())
        store.mark_sent([item.event_id for item in store.outbox_pending()])
        assert store.purge(0, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)) == len(rows)
        assert store.db.execute("SELECT count(*) FROM decision_inputs").fetchone()[0] == 0
    finally:
        store.close()
