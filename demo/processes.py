"""Child processes the demo (and the tests, and the benchmarks) start: a broker, the hub, gates.

Free ports, waiting for a port, a Mosquitto (or amqtt) broker on a free loopback port, named
children whose output is printed with a prefix, and stops that always end a process.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click


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


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Block until 127.0.0.1:port accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise click.ClickException(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def stop_process(proc: subprocess.Popen, timeout: float = 8.0) -> None:
    """SIGINT, then SIGTERM, then SIGKILL (to its process group when it leads one): it always goes away."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            # A child started in its own session takes its children (the hub's workers) with it.
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def _spawn(command: list[str]) -> subprocess.Popen:
    # Its own session: Ctrl-C in the demo's terminal reaches the demo, which stops the broker last.
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


@dataclass
class Broker:
    """A running MQTT broker on a loopback port: Mosquitto, or amqtt where Mosquitto is not installed."""

    host: str
    port: int
    kind: str
    command: list[str]
    proc: subprocess.Popen

    def restart(self) -> None:
        """Stop the broker and start it again on the same port (persistence off)."""
        stop_process(self.proc)
        self.proc = _spawn(self.command)
        wait_for_port(self.port)

    def stop(self) -> None:
        """Stop the broker."""
        stop_process(self.proc)


def mosquitto_exe() -> str | None:
    """Mosquitto's executable, or None when it is not installed."""
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def start_mosquitto(folder: Path, extra_conf: str = "") -> Broker:
    """Mosquitto on a free loopback port with a config written into folder (anonymous unless extra_conf sets auth)."""
    exe = mosquitto_exe()
    if exe is None:
        raise click.ClickException("mosquitto is not installed: run scripts/bootstrap.sh as root")
    port = free_port()
    conf = folder / "mosquitto.conf"
    anonymous = "allow_anonymous" not in extra_conf and "password_file" not in extra_conf
    # Log to stderr: started as root it drops to the mosquitto user and cannot write our folder.
    conf.write_text(f"listener {port} 127.0.0.1\n" + ("allow_anonymous true\n" if anonymous else "")
                    + "log_dest stderr\npersistence false\n" + extra_conf, encoding="utf-8")
    os.chmod(conf, 0o644)
    command = [exe, "-c", str(conf)]
    broker = Broker("127.0.0.1", port, "mosquitto", command, _spawn(command))
    wait_for_port(port)
    return broker


def start_amqtt(folder: Path) -> Broker | None:
    """amqtt in its own process, loopback only: a laptop fallback without per-gate ACLs, not for a venue."""
    exe = shutil.which("amqtt") or str(Path(sys.executable).with_name("amqtt"))
    if not Path(exe).exists():
        return None
    port = free_port()
    conf = folder / "amqtt.yaml"
    # It listens on 0.0.0.0 unless told otherwise; anonymous is acceptable only on loopback.
    conf.write_text(f"listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\nplugins:\n"
                    "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n",
                    encoding="utf-8")
    command = [exe, "-c", str(conf)]
    broker = Broker("127.0.0.1", port, "amqtt", command, _spawn(command))
    wait_for_port(port, 20)
    return broker


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl): Debian's newest, else those on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@dataclass
class Postgres:
    """A throw-away PostgreSQL cluster: its folder, port, superuser, and how to stop it."""

    folder: Path
    port: int
    user: str
    pg_ctl: list[str]

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of one of its databases (trust authentication on loopback: no password)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server at once (its data is thrown away) and remove its folder."""
        subprocess.run([*self.pg_ctl, "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres(user: str = "checkpoint") -> Postgres:
    """A PostgreSQL cluster of its own (initdb + pg_ctl) in a new temporary folder, on a free loopback port.

    For tests and benchmarks: no fsync, trust authentication, loopback only. initdb refuses to run as
    root, so as root the server runs as the `postgres` user (else `nobody`) in a folder it owns.
    """
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise click.ClickException("PostgreSQL is not installed (initdb, pg_ctl): run scripts/bootstrap.sh test as root")
    folder = Path(tempfile.mkdtemp(prefix="checkpoint-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        account = next((name for name in ("postgres", "nobody") if _has_user(name)), None)
        if account is None:
            raise click.ClickException("running as root and no `postgres` or `nobody` user to run PostgreSQL as")
        entry = pwd.getpwnam(account)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        as_user = ["runuser", "-u", account, "--"]
    port = free_port()
    data = folder / "data"
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8",
                    "--locale=C.UTF-8", "--no-sync"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
               " -c full_page_writes=off -c max_connections=400")
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl")]
    subprocess.run([*pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_port(port)
    return Postgres(folder, port, user, pg_ctl)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


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
                stop_process(self.procs[name])
