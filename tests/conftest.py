"""Fixtures shared by every test: a real Mosquitto broker on a free port, free ports."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    """Ask the kernel for a TCP port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGINT, then terminate, then kill: a process always goes away."""
    if proc.poll() is not None:
        return
    for action in (lambda: proc.send_signal(signal.SIGINT), proc.terminate, proc.kill):
        action()
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class Broker:
    """A running Mosquitto instance the test owns."""

    host: str
    port: int
    proc: subprocess.Popen
    conf: Path

    def restart(self) -> None:
        """Stop the broker and start it again on the same port (persistence off)."""
        stop_process(self.proc)
        self.proc = _spawn_mosquitto(self.conf)
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop the broker (tests of a broker that vanished)."""
        stop_process(self.proc)


def _spawn_mosquitto(conf: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def start_mosquitto(tmp: Path, extra_conf: str = "") -> Broker:
    """Start Mosquitto on a free loopback port with a config written into tmp."""
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.fail("mosquitto is not installed: run scripts/bootstrap.sh test as root")
    port = free_port()
    conf = tmp / "mosquitto.conf"
    # Log to stderr: started as root it drops to the mosquitto user and cannot write our files.
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        + ("allow_anonymous true\n" if "allow_anonymous" not in extra_conf and "password_file" not in extra_conf else "")
        + "log_dest stderr\npersistence false\n"
        + extra_conf
    )
    proc = _spawn_mosquitto(conf)
    wait_for_port(port)
    return Broker("127.0.0.1", port, proc, conf)


@pytest.fixture
def mosquitto(tmp_path: Path):
    """A real Mosquitto broker on a free port, stopped after the test."""
    broker = start_mosquitto(tmp_path)
    yield broker
    broker.stop()
