"""`checkpoint hub ...`: create the database, serve the API, enroll gates, write the broker's files."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

from protocols import topics
from server.broker_files import write_broker_files
from server.passwords import WeakPassword, check_password_strength
from server.store import HubDatabaseError, HubStore

log = logging.getLogger(__name__)


def _remember_db(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """Keep the --db path where the group's error handler finds it (ctx.meta is shared)."""
    ctx.meta["hub_db"] = value
    return value


DB_OPTION = click.option("--db", "db_path", type=click.Path(path_type=Path), default=Path("hub.db"),
                         show_default=True, help="The hub's SQLite file.", callback=_remember_db)


class BadDatabase(click.ClickException):
    """A hub database that cannot be used: one line naming the file, exit status 2."""

    exit_code = 2


class HubGroup(click.Group):
    """The hub's commands; a corrupt or unreadable database is one line naming the file, not a traceback."""

    def invoke(self, ctx: click.Context):
        """Run the subcommand, turning database errors into `BadDatabase`."""
        try:
            return super().invoke(ctx)
        except HubDatabaseError as exc:
            raise BadDatabase(str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            # Damage past the pages read at open (a truncated file) shows only when a query reaches it.
            raise BadDatabase(f"{ctx.meta.get('hub_db', 'hub database')}: not a usable hub database ({exc})") from exc


def _store(db_path: Path) -> HubStore:
    if not db_path.exists():
        raise click.ClickException(f"{db_path} does not exist: run `checkpoint hub init --db {db_path}` first")
    return HubStore(db_path)


def _ids(_ctx: click.Context, param: click.Parameter, value: str | tuple[str, ...] | None):
    """Check venue and gate ids by the API's own rule (they are MQTT topic segments), naming a bad one."""
    what = "venue" if param.name == "venue" else "gate"
    for one in (value,) if isinstance(value, str) else value or ():
        try:
            topics.check_segment(one, what)
        except topics.TopicError as exc:
            raise click.BadParameter(f"{'场所' if what == 'venue' else '闸机'}编号无效 / {exc}") from exc
    return value


def _strong(password: str, username: str) -> None:
    """Refuse a weak new password with the bilingual reason (nothing is written)."""
    try:
        check_password_strength(password, (username, "checkpoint", "admin"))
    except WeakPassword as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(cls=HubGroup)
def hub() -> None:
    """The hub: venues, gates, sync, caps, distribution, access log.

    Example: checkpoint hub init && checkpoint hub serve --port 8080
    """


@hub.command()
@DB_OPTION
@click.option("--admin", default="admin", show_default=True, help="The admin's user name.")
@click.option("--password", envvar="CHECKPOINT_ADMIN_PASSWORD", help="The admin's password (else one is generated).")
def init(db_path: Path, admin: str, password: str | None) -> None:
    """Create (or upgrade) the database and an admin account.

    Example: checkpoint hub init --db /var/lib/checkpoint/hub.db
    """
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    _strong(password, admin)
    store = HubStore(db_path)
    applied = store.migrate()
    store.create_user(admin, password, "admin")
    store.close()
    click.echo(f"{db_path}: schema ready ({len(applied)} migrations applied now); admin user {admin!r}")
    if generated:
        click.echo(f"admin password: {password}")


@hub.command("add-venue")
@DB_OPTION
@click.option("--venue", required=True, callback=_ids)
@click.option("--name")
@click.option("--cap", type=int, help="Most people inside at once.")
@click.option("--dwell-minutes", type=int, help="No exit gates: an entry frees its place after this.")
@click.option("--gate", "gates", multiple=True, callback=_ids, help="An entry gate's id (repeat for more).")
@click.option("--exit-gate", "exit_gates", multiple=True, callback=_ids, help="An exit gate's id (repeat for more).")
def add_venue(db_path: Path, venue: str, name: str | None, cap: int | None, dwell_minutes: int | None,
              gates: tuple[str, ...], exit_gates: tuple[str, ...]) -> None:
    """Add a venue and its gates.

    Example: checkpoint hub add-venue --venue acme --cap 200 --gate north --gate south
    """
    store = _store(db_path)
    if store.venue(venue) is None:
        store.create_venue(venue, {"name": name, "cap": cap, "dwell_minutes": dwell_minutes})
    # Each gate's direction is fixed here: an entry gate's device can never post exits.
    for gate in gates:
        store.create_gate(venue, gate, direction="in")
    for gate in exit_gates:
        store.create_gate(venue, gate, direction="out")
    click.echo(f"venue {venue}: gates {', '.join(g['id'] for g in store.gates(venue)) or '-'}")


@hub.command("add-user")
@DB_OPTION
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["admin", "supervisor", "guard"]), required=True)
@click.option("--venue", help="Bind the user to one venue (else every venue).")
@click.option("--password", envvar="CHECKPOINT_USER_PASSWORD", help="The password (else one is generated).")
def add_user(db_path: Path, username: str, role: str, venue: str | None, password: str | None) -> None:
    """Create or replace a console user with a role, optionally bound to one venue.

    Example: checkpoint hub add-user --username li --role supervisor --venue school1
    """
    store = _store(db_path)
    if venue is not None and store.venue(venue) is None:
        raise click.ClickException(f"no venue {venue!r}: add it first with `checkpoint hub add-venue`")
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    _strong(password, username)
    store.create_user(username, password, role)
    store.set_user_venue(username, venue)
    click.echo(f"user {username!r}: {role}, venue {venue or 'all'}")
    if generated:
        click.echo(f"password: {password}")


@hub.command()
@DB_OPTION
@click.option("--venue", required=True)
def status(db_path: Path, venue: str) -> None:
    """Print a venue's events held, occupancy, current document versions and what each gate runs, as JSON.

    Example: checkpoint hub status --db hub.db --venue acme
    """
    store = _store(db_path)
    occupancy = store.occupancy(venue)
    if occupancy is None:
        raise click.ClickException(f"no venue {venue!r}")
    answer = {"venue": venue, "events": store.event_count(venue), "occupancy": occupancy,
              "versions": store.versions(venue), "running": {g["id"]: g["running"] for g in store.gates(venue)}}
    store.close()
    click.echo(json.dumps(answer, ensure_ascii=False, default=str))


@hub.command()
@DB_OPTION
def purge(db_path: Path) -> None:
    """Null the personal fields of events, reviews, reservations, visits and audit queries past each venue's retention.

    Example: checkpoint hub purge --db hub.db   (run daily from cron; the hub also runs it at start)
    """
    from server.retention import purge_database

    _store(db_path).close()
    purged = purge_database(str(db_path))
    click.echo(f"purged personal fields of {sum(purged.values())} events "
               + (", ".join(f"{v}: {n}" for v, n in purged.items()) or ""))


@hub.command("enroll-token")
@DB_OPTION
@click.option("--venue", required=True, callback=_ids)
@click.option("--gate", required=True, callback=_ids)
def enroll_token(db_path: Path, venue: str, gate: str) -> None:
    """Print a one-time token a device at this gate enrolls with (the gate is added if new).

    Example: checkpoint hub enroll-token --venue acme --gate north
    """
    store = _store(db_path)
    if store.venue(venue) is None:
        raise click.ClickException(f"no venue {venue!r}: add it with `checkpoint hub add-venue --venue {venue}`")
    store.create_gate(venue, gate)
    click.echo(store.create_enroll_token(venue, gate))


@hub.command("revoke-device")
@DB_OPTION
@click.option("--venue", required=True)
@click.option("--device", "device_id", required=True)
def revoke_device(db_path: Path, venue: str, device_id: str) -> None:
    """Revoke a lost or stolen device; then re-run mosquitto-config and reload the broker.

    Example: checkpoint hub revoke-device --venue acme --device dev-01jdq...
    """
    if not _store(db_path).revoke_device(venue, device_id):
        raise click.ClickException(f"no live device {device_id!r} at venue {venue!r}")
    click.echo(f"{device_id} revoked; now run `checkpoint hub mosquitto-config` and reload Mosquitto (SIGHUP)")


@hub.command("mosquitto-config")
@DB_OPTION
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for passwd, acl and hub.secret.")
@click.option("--hub-processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many hub processes (bridges, watchers) log in: each gets its own broker account.")
def mosquitto_config(db_path: Path, out: Path, hub_processes: int) -> None:
    """Write Mosquitto's password and ACL files (each device only under its own gate) and print the config lines.

    The lines printed (not starting with #) go into mosquitto.conf; they include
    `use_username_as_clientid true`, so no client can take over another's session by its client id.

    Example: checkpoint hub mosquitto-config --out /etc/mosquitto/checkpoint --hub-processes 2
    """
    files = write_broker_files(_store(db_path), out, hub_processes)
    click.echo(files.mosquitto_conf(), nl=False)
    for user, secret in files.hub_secrets.items():
        click.echo(f"# a hub process logs in as {user!r} with the password in {secret} (one process per account)")
    for line in files.skipped:
        click.echo(f"# 未写入 left out (bad id, cannot log in): {line}", err=True)


@hub.command("openapi")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the OpenAPI document here (else it is printed).")
@click.option("--schemas", type=click.Path(file_okay=False, path_type=Path),
              help="Also write each MQTT payload's JSON Schema into this folder (mqtt-*.json).")
def openapi(out: Path | None, schemas: Path | None) -> None:
    """Write the OpenAPI document of the hub's API, built from the contract's and the hub's bodies.

    Example: checkpoint hub openapi --out protocols/openapi.json --schemas protocols/schemas
    """
    from server.openapi import message_schemas, render

    if out is None:
        click.echo(render(), nl=False)
    else:
        out.write_text(render(), encoding="utf-8")
        click.echo(f"wrote {out}")
    if schemas is not None:
        schemas.mkdir(parents=True, exist_ok=True)
        for name, text in message_schemas().items():
            (schemas / name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {schemas}/mqtt-*.json")

@hub.command()
@DB_OPTION
@click.option("--mqtt-host", required=True)
@click.option("--mqtt-port", type=int, default=1883, show_default=True)
@click.option("--username", default="hub", show_default=True, envvar="CHECKPOINT_HUB_MQTT_USER",
              help="This hub process's own broker account (`hub`, `hub-2`, ...: one per process).")
@click.option("--password-file", type=click.Path(path_type=Path), help="File holding the hub's broker password.")
def bridge(db_path: Path, mqtt_host: str, mqtt_port: int, username: str, password_file: Path | None) -> None:
    """Run the MQTT bridge: events in, acks and retained notices out (until SIGINT/SIGTERM).

    Example: checkpoint hub bridge --mqtt-host 127.0.0.1 --password-file /etc/mosquitto/checkpoint/hub.secret
    """
    from server.mqtt_bridge import MqttBridge

    _store(db_path).close()
    password = password_file.read_text().strip() if password_file else None
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    b = MqttBridge(db_path, mqtt_host, mqtt_port, username if password else None, password)
    b.start()
    click.echo(f"bridge: {mqtt_host}:{mqtt_port} <-> {db_path}")
    done.wait()
    b.stop()


@hub.command()
@DB_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--mqtt-host", help="Also run the MQTT bridge against this broker.")
@click.option("--mqtt-port", type=int, default=1883, show_default=True)
@click.option("--mqtt-password-file", type=click.Path(path_type=Path))
@click.option("--mqtt-username", default="hub", show_default=True, envvar="CHECKPOINT_HUB_MQTT_USER",
              help="The bridge's own broker account (one per hub process).")
def serve(db_path: Path, host: str, port: int, workers: int, mqtt_host: str | None, mqtt_port: int,
          mqtt_password_file: Path | None, mqtt_username: str) -> None:
    """Serve the hub with gunicorn (not Flask's dev server); with --mqtt-host, the bridge beside it.

    Example: checkpoint hub serve --db hub.db --host 0.0.0.0 --port 8080
    """
    from server.wsgi_server import run_gunicorn

    store = _store(db_path)
    store.migrate()  # before the workers fork: they find the schema ready
    store.close()
    bridge_proc = None
    if mqtt_host:
        cmd = [sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "bridge", "--db", str(db_path),
               "--mqtt-host", mqtt_host, "--mqtt-port", str(mqtt_port), "--username", mqtt_username]
        if mqtt_password_file:
            cmd += ["--password-file", str(mqtt_password_file)]
        bridge_proc = subprocess.Popen(cmd)
    os.environ["CHECKPOINT_HUB_DB"] = str(db_path.resolve())
    click.echo(f"hub listening on http://{host}:{port} ({workers} workers, {db_path})")
    try:
        run_gunicorn(host, port, workers)
    finally:
        if bridge_proc is not None:
            bridge_proc.send_signal(signal.SIGINT)
            try:
                bridge_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                bridge_proc.kill()
