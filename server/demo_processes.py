"""The demo's child processes: a broker, the hub, the gates; output prefixed, stopped in order."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click

from server.broker_files import BrokerFiles

log = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True when nothing is bound to 127.0.0.1:port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout: float) -> None:
    """Block until 127.0.0.1:port accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise click.ClickException(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def _stop(proc: subprocess.Popen, timeout: float = 8.0) -> None:
    """SIGINT to the process group, then SIGTERM, then SIGKILL."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


class Processes:
    """Named child processes, each in its own process group (Ctrl-C reaches us, we stop them in order)."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}
        self.lines: dict[str, list[str]] = {}

    def start(self, name: str, cmd: list[str], quiet: bool = False, env: dict[str, str] | None = None) -> None:
        """Start a child; its output is printed with a [name] prefix (errors only when quiet)."""
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
                                stderr=None if quiet else subprocess.STDOUT, text=True, start_new_session=True,
                                env=env)
        self.procs[name] = proc
        self.lines[name] = []
        if proc.stdout is not None:
            threading.Thread(target=self._pump, args=(name, proc), name=f"out-{name}", daemon=True).start()

    def _pump(self, name: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            self.lines[name].append(line)
            click.echo(f"[{name}] {line.rstrip()}")

    def wait_for_line(self, name: str, needle: str, timeout: float) -> None:
        """Block until a child printed a line containing needle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in line for line in self.lines[name]):
                return
            if self.procs[name].poll() is not None:
                raise click.ClickException(f"{name} exited with {self.procs[name].returncode}")
            time.sleep(0.1)
        raise click.ClickException(f"{name} did not start within {timeout:.0f}s")

    def any_died(self) -> bool:
        """True when a child has exited."""
        return any(p.poll() is not None for p in self.procs.values())

    def stop_all(self, but: tuple[str, ...] = ()) -> None:
        """Stop every child except those named in `but`, the hub last."""
        for name in sorted(self.procs, key=lambda n: n == "hub"):
            if name not in but:
                _stop(self.procs[name])


@dataclass
class Broker:
    """The demo's MQTT broker."""

    host: str
    port: int
    kind: str
    proc: subprocess.Popen

    @classmethod
    def start(cls, work: Path, files: BrokerFiles, kind: str = "auto") -> Broker | None:
        """Mosquitto with the hub's password and ACL files when installed, else amqtt; None when neither is."""
        exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if kind == "amqtt" or (kind == "auto" and exe is None):
            return cls._start_amqtt(work)
        if exe is None:
            return None
        port = free_port()
        conf = work / "mosquitto.conf"
        # Log to stderr: started as root it drops to the mosquitto user and cannot write our folder.
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\nlog_dest stderr\n"
                        f"password_file {files.password_file}\nacl_file {files.acl_file}\n", encoding="utf-8")
        os.chmod(conf, 0o644)
        os.chmod(files.password_file.parent, 0o755)
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        wait_for_port(port, 10)
        return cls("127.0.0.1", port, "mosquitto", proc)

    @classmethod
    def _start_amqtt(cls, work: Path) -> Broker | None:
        """amqtt in its own process, loopback only: a laptop fallback without per-gate ACLs, not for a venue."""
        exe = shutil.which("amqtt") or str(Path(sys.executable).with_name("amqtt"))
        if not Path(exe).exists():
            return None
        port = free_port()
        conf = work / "amqtt.yaml"
        # It listens on 0.0.0.0 unless told otherwise; anonymous is acceptable only on loopback.
        conf.write_text(f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\nplugins:\n"
                        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n",
                        encoding="utf-8")
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        wait_for_port(port, 20)
        return cls("127.0.0.1", port, "amqtt", proc)

    def stop(self) -> None:
        """Stop the broker."""
        _stop(self.proc)
