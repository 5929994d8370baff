"""The gate's store on real failing storage: a tmpfs mount that fills up, an ext4 image frozen by fsfreeze.
The gate shows the fault instead of the last green screen, opens for nobody without a record, alerts, and
recovers once the store takes writes again."""

from __future__ import annotations

import errno
import json
import logging
import subprocess
from pathlib import Path

import pytest

from agent.loop import ManualRequest
from tests.agent_gate_helpers import start_simulation
from tests.conftest import wait_until


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MB tmpfs mounted for the test (root only; skipped where the machine does not allow it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; the file (remove it to make room again)."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def screens(journal: Path) -> list[dict]:
    """Every screen the kiosk showed, oldest first."""
    return [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []


@pytest.mark.slow
def test_a_full_disk_closes_the_gate_visibly_and_it_recovers_when_there_is_room(tmp_path, small_disk, caplog) -> None:
    caplog.set_level(logging.WARNING)
    sim = start_simulation(tmp_path, store={"path": str(small_disk / "agent.sqlite")})
    try:
        store, barrier, journal = sim.gate.store, sim.gate.devices.barrier, sim.cfg.kiosk.journal
        first = sim.present(sim.factory.person("green"))
        assert first is not None and first.decision == "admit"
        wait_until(lambda: barrier.state == "locked" and len(barrier.changes) >= 3, what="the first pulse to end")
        opened_before = barrier.states().count("open")

        filler = fill(small_disk)
        person = sim.factory.person("green")
        sim.gate.devices.thermometer_simulator.set_temperature(person.celsius)
        sim.gate.devices.camera.present(person.code, 1.2)
        wait_until(lambda: any(s["state"] == "error" for s in screens(journal)), what="the storage fault on the kiosk")
        shown = [s for s in screens(journal) if s["state"] == "error"][-1]
        assert shown["title"] == {"zh": "存储故障，闸机暂停使用", "en": "Storage fault: the gate is closed"}
        assert screens(journal)[-1]["state"] == "error"  # not the green screen, not the idle prompt
        assert any("ALERT gate store unavailable" in r.getMessage() and "disk is full" in r.getMessage()
                   for r in caplog.records if r.levelno >= logging.ERROR)
        # Nobody is decided meanwhile, by code or by the guard: nothing opens, nothing is half-recorded.
        sim.gate.loop.manual_requests.put(ManualRequest("admit", "a guard opens for a visitor", "guard-1"))
        wait_until(lambda: sim.gate.loop.manual_requests.empty(), what="the guard's request to be refused")
        assert sim.events.empty() and barrier.states().count("open") == opened_before
        assert store.count() == 1

        filler.unlink()
        alarm = sim.events.get(timeout=10)
        assert alarm.kind == "alarm" and alarm.decision is None and "disk is full" in (alarm.note or "")
        assert [r.rule for r in alarm.reasons] == ["GATE-STORE-01"] and store.event(alarm.id) == alarm
        assert any("writable again" in r.getMessage() for r in caplog.records)
        wait_until(lambda: screens(journal)[-1]["state"] == "idle", what="the prompt back")
        again = sim.present(sim.factory.person("green"))
        assert again is not None and again.decision == "admit" and store.event(again.id) == again
        assert barrier.states().count("open") == opened_before + 1
    finally:
        sim.close()


@pytest.fixture
def ext4_disk(tmp_path: Path):
    """An 8 MB ext4 image mounted by loop device, which fsfreeze can freeze (root only; else skipped)."""
    image, mount = tmp_path / "disk.img", tmp_path / "ext4"
    mount.mkdir()
    with open(image, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    for cmd in (["mkfs.ext4", "-q", "-F", str(image)], ["mount", "-o", "loop", str(image), str(mount)]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make a loop-mounted ext4 here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["fsfreeze", "-u", str(mount)], capture_output=True, check=False)
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_frozen_storage_shows_the_fault_while_the_record_waits(tmp_path, ext4_disk, caplog) -> None:
    caplog.set_level(logging.WARNING)
    sim = start_simulation(tmp_path, store={"path": str(ext4_disk / "agent.sqlite")})
    try:
        journal, barrier = sim.cfg.kiosk.journal, sim.gate.devices.barrier
        first = sim.present(sim.factory.person("green"))
        assert first is not None and first.decision == "admit"
        wait_until(lambda: barrier.state == "locked" and len(barrier.changes) >= 3, what="the first pulse to end")
        subprocess.run(["fsfreeze", "-f", str(ext4_disk)], check=True)  # every write now blocks in the kernel
        try:
            person = sim.factory.person("green")
            sim.gate.devices.thermometer_simulator.set_temperature(person.celsius)
            sim.gate.devices.camera.present(person.code, 1.2)
            wait_until(lambda: screens(journal)[-1]["state"] == "error", what="the fault while the write hangs")
            assert sim.events.empty() and barrier.states().count("open") == 1  # nothing moves before the record
            assert any("ALERT gate stalled" in r.getMessage() for r in caplog.records)
        finally:
            subprocess.run(["fsfreeze", "-u", str(ext4_disk)], check=True)
        event = sim.events.get(timeout=15)  # the write completes: the decision is on disk, then it is shown
        assert event.decision == "admit" and sim.gate.store.event(event.id) == event
        assert barrier.states().count("open") == 2
    finally:
        sim.close()


@pytest.mark.slow
@pytest.mark.parametrize("content", [b"not a database at all\n" * 200, b"\x00\xff" * 3000])
def test_agent_run_on_a_corrupt_store_names_the_file_without_a_traceback(tmp_path, content: bytes) -> None:
    from agent.people import PeopleFactory
    from tests.test_agent_run import CLI, ENV, write_gate

    config = write_gate(tmp_path, [], PeopleFactory(seed=5))
    (tmp_path / "agent.sqlite").write_bytes(content)
    result = subprocess.run([*CLI, "agent", "run", "--config", str(config)], env=ENV,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "agent.sqlite" in result.stderr and "not a usable agent store" in result.stderr
    assert "Traceback" not in result.stderr
