"""`checkpoint demo`: a broker, the hub with a demo venue, and several simulated gates syncing to it.

Each gate is one `checkpoint agent simulate --hub ...` process (every device simulated) running
the gate's own sync client: enrolled with its own credential, logged in to the broker as its own
device, admitting within its lease of the venue's cap. Ctrl-C stops everything, gates first (each
sends what is left and hands its unused places back), the hub last.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import click

from server.broker_files import write_broker_files
from server.demo_documents import DemoKeys, publish_demo_documents
from server.demo_processes import Broker, Processes, free_port, port_is_free, wait_for_port
from server.store import HubStore

log = logging.getLogger(__name__)
VENUE = "demo-venue"
CHECKPOINT = [sys.executable, "-c", "from protocols.cli import main; main()"]


def _prepare_hub(work: Path, gates: list[str], cap: int) -> tuple[Path, str, dict[str, tuple[str, str]], DemoKeys]:
    """Create the database, the admin, the venue, its gates, one device per gate and the signed documents."""
    db = work / "hub.db"
    store = HubStore(db)
    store.migrate()
    password = secrets.token_urlsafe(9)
    store.create_user("admin", password, "admin")
    store.create_venue(VENUE, {"name": "演示场所 Demo venue", "cap": cap})
    devices = {}
    for gate in gates:
        store.create_gate(VENUE, gate)
        device, secret = store.redeem_token(store.create_enroll_token(VENUE, gate))  # type: ignore[misc]
        devices[gate] = (device.id, secret)
    keys, _ = publish_demo_documents(store, VENUE, work / "keys")
    store.close()
    return db, password, devices, keys


def _documents_line(store: HubStore) -> str:
    """Each gate's running document versions against the hub's current ones, e.g. `gate-1 bundle 1/1`."""
    current = store.versions(VENUE)
    parts = []
    for gate in store.gates(VENUE):
        running = " ".join(f"{kind} {gate['running'].get(kind, '-')}/{version}" for kind, version in current.items())
        parts.append(f"{gate['id']} {running}")
    return "文件 documents (running/current): " + "; ".join(parts)


def _say_moved(port: int) -> int:
    other = free_port()
    click.echo(f"端口 {port} 已被占用 / port {port} is taken: the hub uses {other}")
    return other


@click.command()
@click.option("--gates", "n_gates", default=3, show_default=True, help="How many simulated entry gates.")
@click.option("--exits", "n_exits", default=1, show_default=True, help="How many simulated exit gates (they free places).")
@click.option("--cap", default=10, show_default=True, help="The demo venue's cap.")
@click.option("--port", default=8080, show_default=True, help="The hub's port (0: any free port).")
@click.option("--pace", default=2.0, show_default=True, help="Seconds between people at each gate.")
@click.option("--duration", type=float, help="Stop by itself after this many seconds (default: until Ctrl-C).")
@click.option("--broker", "broker_kind", type=click.Choice(["auto", "mosquitto", "amqtt"]), default="auto",
              show_default=True, help="auto: Mosquitto when installed, else amqtt.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep the hub's files here (default: a temporary folder).")
def demo(n_gates: int, n_exits: int, cap: int, port: int, pace: float, duration: float | None, broker_kind: str,
         workdir: Path | None) -> None:
    """Start a broker, the hub with a demo venue and simulated gates that sync to it; Ctrl-C stops all.

    Example: checkpoint demo --gates 3
    """
    tmp = None if workdir else tempfile.TemporaryDirectory(prefix="checkpoint-demo-")
    work = Path(workdir or tmp.name)  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)  # Mosquitto started as root drops to its own user and must read its files here
    entries = [f"gate-{i + 1}" for i in range(n_gates)]
    exits = [f"exit-{i + 1}" for i in range(n_exits)]
    gates = entries + exits
    db, password, devices, keys = _prepare_hub(work, gates, cap)
    procs = Processes()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        broker = Broker.start(work, write_broker_files(HubStore(db), work / "broker"), broker_kind)
        if broker is None:
            click.echo("没有 MQTT 代理 / no MQTT broker (apt-get install mosquitto, or pip install amqtt): "
                       "gates sync over HTTP only")
        if not port or not port_is_free(port):
            port = free_port() if not port else _say_moved(port)
        hub_cmd = [*CHECKPOINT, "hub", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)]
        if broker is not None:
            hub_cmd += ["--mqtt-host", broker.host, "--mqtt-port", str(broker.port),
                        "--mqtt-password-file", str(work / "broker" / "hub.secret")]
        procs.start("hub", hub_cmd, quiet=True)
        wait_for_port(port, 30)
        hub_url = f"http://127.0.0.1:{port}"
        for i, gate in enumerate(gates):
            device_id, secret = devices[gate]
            # Exits walk at half the pace of entries, so the venue fills, then frees places as people leave.
            cmd = [*CHECKPOINT, "agent", "simulate", "--venue", VENUE, "--gate", gate, "--hub", hub_url,
                   "--device-id", device_id, "--store", str(work / f"{gate}.sqlite"), "--people", "0",
                   "--pace", str(pace if gate in entries else 2 * pace), "--seed", str(i + 1),
                   "--direction", "in" if gate in entries else "out",
                   # The gate runs the hub's signed bundle and trust list; its people carry the trusted issuer's codes.
                   "--root-pub", str(keys.root_public), "--issuer-key", str(keys.issuer_private)]
            if broker is not None:
                cmd += ["--mqtt-host", broker.host, "--mqtt-port", str(broker.port)]
            # The secret goes by the environment: a command line is visible to every user of the machine.
            procs.start(gate, cmd, env={**os.environ, "CHECKPOINT_DEVICE_SECRET": secret})
        for gate in gates:
            procs.wait_for_line(gate, "store:", 60)
        click.echo(f"\n中心 hub: {hub_url}   用户 user: admin   密码 password: {password}")
        click.echo(f"控制台 console: {hub_url}/console/   (admin / {password})")
        click.echo(f"接口文档 OpenAPI: {hub_url}/openapi.json   访问记录 access log: {hub_url}/api/v1/events?format=csv")
        click.echo(f"场所 venue: {VENUE}   上限 cap: {cap}   占用 occupancy: {hub_url}/api/v1/venues/{VENUE}/occupancy")
        if broker is not None:
            click.echo(f"MQTT: {broker.host}:{broker.port} ({broker.kind})   文件 files: {work}")
        click.echo("按 Ctrl-C 停止 · press Ctrl-C to stop\n")
        deadline = time.monotonic() + duration if duration else None
        while not done.wait(1.0):
            if deadline and time.monotonic() > deadline:
                break
            if procs.any_died():
                click.echo("a demo process exited early; stopping", err=True)
                break
    finally:
        procs.stop_all(but=("hub",))  # gates first: each sends what is left while the hub is still up
        procs.stop_all()
        if 'broker' in locals() and broker is not None:
            broker.stop()
        store = HubStore(db)
        occ = store.occupancy(VENUE) or {}
        click.echo(f"\n中心共收到 hub holds {store.event_count()} events; 场内 inside {occ.get('inside')}/{cap} "
                   f"(进 entries {occ.get('entries')}, 出 exits {occ.get('exits')})")
        click.echo(_documents_line(store))
        store.close()
        if tmp is not None:
            tmp.cleanup()
        else:
            click.echo(f"files kept in {work}")
