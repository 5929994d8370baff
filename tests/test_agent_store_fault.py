"""The gate's store on real failing storage: a tmpfs mount that fills up, an ext4 image frozen by fsfreeze,
and where nothing can be mounted, the store's files and folder made read-only (chmod, or chattr +i as root).
The gate shows the fault instead of the last green screen, opens for nobody without a record, alerts, and
recovers once the store takes writes again."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
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


def closes_and_recovers(tmp_path: Path, store_path: Path, break_store, mend_store, why: str, caplog) -> None:
    """A gate on `store_path`: after `break_store()` it shows the storage fault, alerts with `why`, decides
    nobody (code or guard); after `mend_store()` it records the GATE-STORE-01 alarm and admits again."""
    caplog.set_level(logging.WARNING)
    sim = start_simulation(tmp_path, store={"path": str(store_path)})
    try:
        store, barrier, journal = sim.gate.store, sim.gate.devices.barrier, sim.cfg.kiosk.journal
        first = sim.present(sim.factory.person("green"))
        assert first is not None and first.decision == "admit"
        wait_until(lambda: barrier.state == "locked" and len(barrier.changes) >= 3, what="the first pulse to end")
        opened_before = barrier.states().count("open")

        break_store()
        person = sim.factory.person("green")
        sim.gate.devices.thermometer_simulator.set_temperature(person.celsius)
        sim.gate.devices.camera.present(person.code, 1.2)
        wait_until(lambda: any(s["state"] == "error" for s in screens(journal)), what="the storage fault on the kiosk")
        shown = [s for s in screens(journal) if s["state"] == "error"][-1]
        assert shown["title"] == {"zh": "存储故障，闸机暂停使用", "en": "Storage fault: the gate is closed"}
        assert screens(journal)[-1]["state"] == "error"  # not the green screen, not the idle prompt
        assert any("ALERT gate store unavailable" in r.getMessage() and why in r.getMessage()
                   for r in caplog.records if r.levelno >= logging.ERROR)
        # Nobody is decided meanwhile, by code or by the guard: nothing opens, nothing is half-recorded.
        sim.gate.loop.manual_requests.put(ManualRequest("admit", "a guard opens for a visitor", "guard-1"))
        wait_until(lambda: sim.gate.loop.manual_requests.empty(), what="the guard's request to be refused")
        assert sim.events.empty() and barrier.states().count("open") == opened_before
        assert store.count() == 1

        mend_store()
        alarm = sim.events.get(timeout=10)
        assert alarm.kind == "alarm" and alarm.decision is None and why in (alarm.note or "")
        assert [r.rule for r in alarm.reasons] == ["GATE-STORE-01"] and store.event(alarm.id) == alarm
        assert any("writable again" in r.getMessage() for r in caplog.records)
        wait_until(lambda: screens(journal)[-1]["state"] == "idle", what="the prompt back")
        again = sim.present(sim.factory.person("green"))
        assert again is not None and again.decision == "admit" and store.event(again.id) == again
        assert barrier.states().count("open") == opened_before + 1
    finally:
        sim.close()


@pytest.mark.slow
def test_a_full_disk_closes_the_gate_visibly_and_it_recovers_when_there_is_room(tmp_path, small_disk, caplog) -> None:
    fillers: list[Path] = []
    closes_and_recovers(tmp_path, small_disk / "agent.sqlite", lambda: fillers.append(fill(small_disk)),
                        lambda: fillers.pop().unlink(), "disk is full", caplog)


def read_only(paths: list[Path], on: bool) -> None:
    """Make files and folders unwritable (on) or writable again: mode bits, or as root the immutable flag."""
    # Root ignores mode bits, so root needs `chattr +i` (CAP_LINUX_IMMUTABLE); the fixture has checked it works.
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], check=True, capture_output=True)
    else:
        for p in paths:
            p.chmod((0o555 if p.is_dir() else 0o444) if on else (0o755 if p.is_dir() else 0o644))


@pytest.fixture
def read_only_store(tmp_path: Path):
    """The fallback where no tmpfs or loop image can be mounted: the store's folder and files made read-only."""
    folder = tmp_path / "store"
    folder.mkdir()
    if os.geteuid() == 0:
        probe = folder / "probe"
        probe.write_text("x")
        if shutil.which("chattr") is None:
            pytest.skip("root ignores mode bits and chattr is not installed")
        done = subprocess.run(["chattr", "+i", str(probe)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"root ignores mode bits and chattr +i is refused here: {done.stderr.strip()}")
        subprocess.run(["chattr", "-i", str(probe)], check=True)
        probe.unlink()
    yield folder
    # Whatever the test left, the folder must be removable afterwards.
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True, check=False)


@pytest.mark.slow
def test_a_read_only_store_closes_the_gate_visibly_and_it_recovers_when_writable(tmp_path, read_only_store,
                                                                                 caplog) -> None:
    store = read_only_store / "agent.sqlite"
    # The database, its write-ahead log and the folder (no new journal can be made); the shared-memory
    # index is SQLite's own bookkeeping, mapped already, and is left as it is.
    locked = [store, Path(f"{store}-wal"), read_only_store]
    closes_and_recovers(tmp_path, store, lambda: read_only(locked, True), lambda: read_only(locked, False),
                        "agent.sqlite", caplog)


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
