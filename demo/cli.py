"""`checkpoint demo`: a broker, the hub with a demo venue, and several simulated gates syncing to it.

Every part is its own process, set up only through its commands and the hub's HTTP API, as at a
real venue: `checkpoint hub init` and `add-venue`, then the hub serves; the demo takes an
enrollment token per gate and enrolls it over HTTP, publishes the signed documents over HTTP,
writes the broker's files with `checkpoint hub mosquitto-config` and starts the broker and the
hub's MQTT bridge. Each gate is one `checkpoint agent simulate --hub ...` process (every device
simulated) running the gate's own sync client: enrolled with its own credential, logged in to the
broker as its own device, admitting within its lease of the venue's cap. Ctrl-C stops
everything, gates first (each sends what is left and hands its unused places back), the hub last.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click
import requests

from demo.documents import demo_documents, schedule_key
from demo.feeds import LABELS, StatusFeeds, residents, roster_csv
from demo.processes import (Broker, Processes, free_port, mosquitto_exe, port_is_free, start_amqtt, start_mosquitto,
                            wait_for_port)
from protocols import contract
from protocols.events import mask_name
from protocols.trustlist import TrustedKey

VENUE = "demo-venue"
CHECKPOINT = [sys.executable, "-c", "from checkpoint.cli import main; main()"]
ADMIN = "admin"
HOLDERS_FILE = "holders.txt"  # in the work folder: the residents' holder links, one a line


def _command(*args: str, env: dict[str, str] | None = None) -> str:
    """Run one `checkpoint ...` command to its end; its output (a failure stops the demo with its message)."""
    run = subprocess.run([*CHECKPOINT, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    if run.returncode != 0:
        raise click.ClickException(f"checkpoint {' '.join(args[:2])} failed: {run.stderr.strip()[-800:]}")
    return run.stdout


class HubApi:
    """The hub's HTTP API as the venue's admin uses it."""

    def __init__(self, url: str, password: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.auth = (ADMIN, password)

    def call(self, method: str, path: str, **kwargs) -> dict:
        """One request below the API prefix; the JSON answer (an error status stops the demo)."""
        answer = self.session.request(method, self.url + contract.API_PREFIX + path, timeout=30, **kwargs)
        if not answer.ok:
            raise click.ClickException(f"hub: {method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def enroll(self, gate: str) -> tuple[str, str]:
        """A one-time token for the gate, spent as its device would: the device id and secret."""
        token = self.call("POST", f"/venues/{VENUE}/gates/{gate}/enroll-token")["token"]
        device = self.call("POST", contract.ENROLL, json={"token": token})
        return device["device_id"], device["secret"]


def _prepare_hub(db: Path, gates: list[str], cap: int, entries: list[str]) -> str:
    """Create the database, the admin, the venue and its gates by the hub's commands; the admin's password."""
    password = secrets.token_urlsafe(9)
    # The password goes by the environment: a command line is visible to every user of the machine.
    _command("hub", "init", "--db", str(db), "--admin", ADMIN, env={"CHECKPOINT_ADMIN_PASSWORD": password})
    _command("hub", "add-venue", "--db", str(db), "--venue", VENUE, "--name", "演示场所 Demo venue", "--cap", str(cap),
             *(arg for gate in gates for arg in (("--gate" if gate in entries else "--exit-gate"), gate)))
    return password


def _feed_logins(db: Path) -> dict[str, tuple[str, str]]:
    """A supervisor login of the venue for the simulated authority and for the lab: source -> (user, password)."""
    logins = {}
    for source in LABELS:
        password = secrets.token_urlsafe(12)
        _command("hub", "add-user", "--db", str(db), "--username", source, "--role", "supervisor", "--venue", VENUE,
                 env={"CHECKPOINT_USER_PASSWORD": password})
        logins[source] = (source, password)
    return logins


def _enrol_residents(api: HubApi, db: Path, hub_url: str) -> list[tuple[str, str]]:
    """Enrol the demo's residents by the roster API, issue each a holder link and declare (as each phone would)
    that they stayed nowhere else; each resident's masked name and link."""
    people = residents()
    api.call("POST", f"/venues/{VENUE}/roster", params={"filename": "roster.csv"}, data=roster_csv(people),
             headers={"Content-Type": "text/csv"})
    links = []
    for person in people:
        link = _command("hub", "holder-link", "--db", str(db), "--venue", VENUE, "--id", person.id_number,
                        "--base-url", hub_url).strip()
        requests.post(f"{link}/declaration", json={"stays": []}, timeout=10).raise_for_status()
        links.append((mask_name(person.name), link))
    return links


def _write_links(path: Path, links: list[str]) -> None:
    """The holder links the gates' simulated people use, written whole at once (a gate never reads half a file)."""
    part = path.with_suffix(".part")
    part.write_text("".join(link + "\n" for link in links), encoding="utf-8")
    part.chmod(0o600)  # a link opens its holder's page: only the demo's user reads them
    part.replace(path)


def _start_broker(work: Path, db: Path, kind: str) -> Broker | None:
    """Mosquitto with the hub's password and ACL files when installed, else amqtt; None when neither is."""
    # Written for either broker: the hub's bridge logs in with the password in hub.secret.
    files = _command("hub", "mosquitto-config", "--db", str(db), "--out", str(work / "broker"))
    if kind == "amqtt" or (kind == "auto" and mosquitto_exe() is None):
        return start_amqtt(work)
    if mosquitto_exe() is None:
        return None
    os.chmod(work / "broker", 0o755)  # Mosquitto started as root drops to its own user and must read the files
    conf = "".join(line + "\n" for line in files.splitlines() if not line.startswith("#"))
    return start_mosquitto(work, "allow_anonymous false\n" + conf)


def _summary(db: Path, cap: int) -> list[str]:
    """The closing lines: events held, who is inside, and each gate's running document versions against the current ones."""
    status = json.loads(_command("hub", "status", "--db", str(db), "--venue", VENUE))
    occ = status["occupancy"]
    parts = []
    for gate, running in status["running"].items():
        versions = " ".join(f"{kind} {running.get(kind, '-')}/{version}" for kind, version in status["versions"].items())
        parts.append(f"{gate} {versions}")
    return [f"\n中心共收到 hub holds {status['events']} events; 场内 inside {occ.get('inside')}/{cap} "
            f"(进 entries {occ.get('entries')}, 出 exits {occ.get('exits')})",
            "文件 documents (running/current): " + "; ".join(parts)]


def _say_moved(port: int) -> int:
    other = free_port()
    click.echo(f"端口 {port} 已被占用 / port {port} is taken: the hub uses {other}")
    return other


@click.command()
@click.option("--gates", "n_gates", default=3, show_default=True, help="How many simulated entry gates.")
@click.option("--exits", "n_exits", default=1, show_default=True, help="How many simulated exit gates (they free places).")
@click.option("--cap", default=10, show_default=True, help="The demo venue's cap.")
@click.option("--population", default=40, show_default=True, type=click.IntRange(min=1),
              help="How many people come and go (the same residents at every gate).")
@click.option("--port", default=8080, show_default=True, help="The hub's port (0: any free port).")
@click.option("--pace", default=2.0, show_default=True, help="Seconds between people at each gate.")
@click.option("--duration", type=float, help="Stop by itself after this many seconds (default: until Ctrl-C).")
@click.option("--broker", "broker_kind", type=click.Choice(["auto", "mosquitto", "amqtt"]), default="auto",
              show_default=True, help="auto: Mosquitto when installed, else amqtt.")
@click.option("--workdir", type=click.Path(path_type=Path), help="Keep the hub's files here (default: a temporary folder).")
@click.option("--feed-every", default=30.0, show_default=True, type=click.FloatRange(min=0.5),
              help="Seconds between rounds of the simulated health authority's and lab's status feeds.")
def demo(n_gates: int, n_exits: int, cap: int, population: int, port: int, pace: float, duration: float | None, broker_kind: str,
         workdir: Path | None, feed_every: float) -> None:
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
    db = work / "hub.db"
    password = _prepare_hub(db, gates, cap, entries)
    logins = _feed_logins(db)
    # The hub's own issuer key for the venue (the holders' passes): trusted by the gates beside the simulation's.
    hub_issuer = TrustedKey.from_json(json.loads(_command("hub", "issuer-key", "--db", str(db), "--venue", VENUE)))
    procs = Processes()
    feeds: StatusFeeds | None = None
    broker: Broker | None = None
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        if not port or not port_is_free(port):
            port = free_port() if not port else _say_moved(port)
        # The hub signs the venue's schedule and daily controls (每日管控) with its own key; the gates check them.
        signing, signing_pub = schedule_key(work / "keys")
        procs.start("hub", [*CHECKPOINT, "hub", "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)],
                    quiet=True, env={**os.environ, "CHECKPOINT_SCHEDULE_KEY": str(signing)})
        wait_for_port(port, 30)
        hub_url = f"http://127.0.0.1:{port}"
        api = HubApi(hub_url, password)
        devices = {gate: api.enroll(gate) for gate in gates}
        keys, documents = demo_documents(work / "keys", trusted=[hub_issuer])
        for kind, body in documents.items():
            api.call("PUT", f"/venues/{VENUE}/documents/{kind}", data=body, headers={"Content-Type": "application/json"})
        broker = _start_broker(work, db, broker_kind)
        if broker is None:
            click.echo("没有 MQTT 代理 / no MQTT broker (apt-get install mosquitto, or pip install amqtt): "
                       "gates sync over HTTP only")
        else:
            procs.start("bridge", [*CHECKPOINT, "hub", "bridge", "--db", str(db), "--mqtt-host", broker.host,
                                   "--mqtt-port", str(broker.port), "--password-file", str(work / "broker" / "hub.secret")],
                        quiet=True)
        # The residents are enrolled, linked and fed before the gates open: their holder pages give passes
        # from the gates' first person on.
        holders = _enrol_residents(api, db, hub_url)
        _write_links(work / HOLDERS_FILE, [link for _, link in holders])
        feeds = StatusFeeds(hub_url, VENUE, residents(), logins, feed_every, click.echo)
        feeds.start()
        fed_by = time.monotonic() + 30
        while feeds.rounds < 1 and time.monotonic() < fed_by:
            time.sleep(0.05)
        for i, gate in enumerate(gates):
            device_id, secret = devices[gate]
            # Exits walk at half the pace of entries, so the venue fills, then frees places as people leave.
            # Every gate's people are one population's residents: the exit gate walks out the admitted.
            cmd = [*CHECKPOINT, "agent", "simulate", "--venue", VENUE, "--gate", gate, "--hub", hub_url,
                   "--device-id", device_id, "--store", str(work / f"{gate}.sqlite"), "--people", "0",
                   "--pace", str(pace if gate in entries else 2 * pace), "--seed", str(i + 1),
                   "--population", str(population),
                   "--direction", "in" if gate in entries else "out",
                   # The gate runs the hub's signed bundle and trust list; its people carry the trusted issuer's codes.
                   "--root-pub", str(keys.root_public), "--issuer-key", str(keys.issuer_private),
                   "--schedule-pub", str(signing_pub),
                   # The enrolled residents show the passes their holder pages give.
                   "--holders", str(work / HOLDERS_FILE)]
            if broker is not None:
                cmd += ["--mqtt-host", broker.host, "--mqtt-port", str(broker.port)]
            # The secret goes by the environment: a command line is visible to every user of the machine.
            procs.start(gate, cmd, env={**os.environ, "CHECKPOINT_DEVICE_SECRET": secret})
        for gate in gates:
            procs.wait_for_line(gate, "store:", 60)
        click.echo(f"\n中心 hub: {hub_url}   用户 user: {ADMIN}   密码 password: {password}")
        click.echo(f"控制台 console: {hub_url}/console/   ({ADMIN} / {password})")
        click.echo(f"接口文档 OpenAPI: {hub_url}/openapi.json   访问记录 access log: {hub_url}/api/v1/events?format=csv")
        click.echo(f"场所 venue: {VENUE}   上限 cap: {cap}   占用 occupancy: {hub_url}/api/v1/venues/{VENUE}/occupancy")
        if broker is not None:
            click.echo(f"MQTT: {broker.host}:{broker.port} ({broker.kind})   文件 files: {work}")
        for name, link in holders:
            click.echo(f"持码人 holder {name}: {link}")
        click.echo("按 Ctrl-C 停止 · press Ctrl-C to stop\n")
        deadline = time.monotonic() + duration if duration else None
        while not done.wait(1.0):
            if deadline and time.monotonic() > deadline:
                break
            if procs.any_died():
                click.echo("a demo process exited early; stopping", err=True)
                break
    finally:
        if feeds is not None:
            feeds.stop()
        # Gates first: each sends what is left while the hub and its bridge are still up.
        procs.stop_all(but=("hub", "bridge"))
        procs.stop_all()
        if broker is not None:
            broker.stop()
        for line in _summary(db, cap):
            click.echo(line)
        if tmp is not None:
            tmp.cleanup()
        else:
            click.echo(f"files kept in {work}")
