"""`checkpoint hub ...`: create the database, serve the API, enroll gates, write the broker's files."""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click
from click.core import ParameterSource
from sqlalchemy.exc import DatabaseError

from protocols import topics
from server.broker_files import write_broker_files
from server.passwords import WeakPassword, check_password_strength
from server.store import HubDatabaseError, HubStore
from server.store_engine import DatabaseUrlError, database_url, shown, sqlite_path

log = logging.getLogger(__name__)


DEFAULT_DB = Path("hub.db")


def database_options(command):
    """Add `--database URL` (or $CHECKPOINT_DATABASE_URL) and its SQLite shorthand `--db PATH` to a command,
    which receives the one chosen as `database` (a URL, or a SQLite path; ./hub.db when neither is given)."""

    @click.option("--db", "db_path", type=click.Path(path_type=Path), default=None,
                  help=f"The hub's SQLite file, short for --database sqlite:///PATH (default: {DEFAULT_DB}).")
    @click.option("--database", "database_url_", envvar="CHECKPOINT_DATABASE_URL", metavar="URL",
                  help="The hub's database: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/NAME "
                       "(env CHECKPOINT_DATABASE_URL).")
    @functools.wraps(command)
    def with_database(*args, db_path: Path | None, database_url_: str | None, **kwargs):
        ctx = click.get_current_context()
        from_env = ctx.get_parameter_source("database_url_") == ParameterSource.ENVIRONMENT
        if db_path is not None and database_url_ is not None and not from_env:
            raise click.UsageError("--db 与 --database 只能给一个 / give --db or --database, not both")
        # A --db on the command line is more explicit than the environment's URL.
        database = str(db_path) if db_path is not None else database_url_ or str(DEFAULT_DB)
        try:
            url = database_url(database)
        except DatabaseUrlError as exc:
            where = "$CHECKPOINT_DATABASE_URL" if from_env else "--database"
            raise click.BadParameter(str(exc), param_hint=where) from exc
        # Where the group's error handler finds the database's name (ctx.meta is shared).
        ctx.meta["hub_db"] = shown(url)
        return command(*args, database=database, **kwargs)

    return with_database


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
        except DatabaseError as exc:
            # Damage past the pages read at open (a truncated file) shows only when a query reaches it.
            raise BadDatabase(f"{ctx.meta.get('hub_db', 'hub database')}: not a usable hub database ({' '.join(str(exc.orig).split())})") from exc


def _store(database: str) -> HubStore:
    path = sqlite_path(database)
    if path is not None and not path.exists():
        raise click.ClickException(f"{path} does not exist: run `checkpoint hub init --db {path}` first")
    store = HubStore(database)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(store.close)  # closed when the command ends, however it ends (closing twice is harmless)
    return store


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
@database_options
@click.option("--admin", default="admin", show_default=True, help="The admin's user name.")
@click.option("--password", envvar="CHECKPOINT_ADMIN_PASSWORD", help="The admin's password (else one is generated).")
def init(database: str, admin: str, password: str | None) -> None:
    """Create (or upgrade) the database and an admin account.

    Example: checkpoint hub init --db /var/lib/checkpoint/hub.db
    """
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    _strong(password, admin)
    store = HubStore(database)
    applied = store.migrate()
    store.create_user(admin, password, "admin")
    store.close()
    click.echo(f"{store.name}: schema ready ({len(applied)} migrations applied now); admin user {admin!r}")
    if generated:
        click.echo(f"admin password: {password}")


@hub.command()
@database_options
def migrate(database: str) -> None:
    """Create or upgrade the database's schema to this version's (the hub also does it at start-up).

    Example: checkpoint hub migrate --database postgresql://checkpoint@db.local/checkpoint
    """
    store = HubStore(database)
    applied = store.migrate()
    store.close()
    click.echo(f"{store.name}: schema ready ({', '.join(applied) or 'nothing to do'})")


@hub.command("migrate-db")
@click.option("--from", "source", required=True, metavar="URL",
              help="The hub's database now: sqlite:///PATH (or a path) or postgresql://...")
@click.option("--to", "target", required=True, metavar="URL", help="An empty database to copy it into.")
@click.option("--batch", type=int, default=1000, show_default=True, help="Rows per insert.")
def migrate_db(source: str, target: str, batch: int) -> None:
    """Copy a hub's whole database into an empty one (a venue's SQLite hub onto PostgreSQL); stop the hub first.

    Example: checkpoint hub migrate-db --from sqlite:////var/lib/checkpoint/hub.db --to postgresql://checkpoint@db/checkpoint
    """
    from server.store_copy import CopyRefused, copy_database

    for value, option in ((source, "--from"), (target, "--to")):
        try:
            url = database_url(value)
        except DatabaseUrlError as exc:
            raise click.BadParameter(str(exc), param_hint=option) from exc
        path = sqlite_path(value)
        if option == "--from" and path is not None and not path.exists():
            raise click.BadParameter(f"{path} 不存在 / does not exist", param_hint=option)
        click.get_current_context().meta["hub_db"] = shown(url)
    try:
        copied = copy_database(source, target, batch)
    except CopyRefused as exc:
        raise click.ClickException(str(exc)) from exc
    for table, n in copied.tables.items():
        click.echo(f"{table}: {n}")
    click.echo(f"copied {copied.total} rows from {shown(database_url(source))} to {shown(database_url(target))}")


@hub.command("add-venue")
@database_options
@click.option("--venue", required=True, callback=_ids)
@click.option("--name")
@click.option("--cap", type=int, help="Most people inside at once.")
@click.option("--dwell-minutes", type=int, help="No exit gates: an entry frees its place after this.")
@click.option("--gate", "gates", multiple=True, callback=_ids, help="An entry gate's id (repeat for more).")
@click.option("--exit-gate", "exit_gates", multiple=True, callback=_ids, help="An exit gate's id (repeat for more).")
def add_venue(database: str, venue: str, name: str | None, cap: int | None, dwell_minutes: int | None,
              gates: tuple[str, ...], exit_gates: tuple[str, ...]) -> None:
    """Add a venue and its gates.

    Example: checkpoint hub add-venue --venue acme --cap 200 --gate north --gate south
    """
    store = _store(database)
    if store.venue(venue) is None:
        store.create_venue(venue, {"name": name, "cap": cap, "dwell_minutes": dwell_minutes})
    # Each gate's direction is fixed here: an entry gate's device can never post exits.
    for gate in gates:
        store.create_gate(venue, gate, direction="in")
    for gate in exit_gates:
        store.create_gate(venue, gate, direction="out")
    click.echo(f"venue {venue}: gates {', '.join(g['id'] for g in store.gates(venue)) or '-'}")


@hub.command("add-user")
@database_options
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["admin", "supervisor", "guard"]), required=True)
@click.option("--venue", help="Bind the user to one venue (else every venue).")
@click.option("--password", envvar="CHECKPOINT_USER_PASSWORD", help="The password (else one is generated).")
def add_user(database: str, username: str, role: str, venue: str | None, password: str | None) -> None:
    """Create or replace a console user with a role, optionally bound to one venue.

    Example: checkpoint hub add-user --username li --role supervisor --venue school1
    """
    store = _store(database)
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


@hub.group(invoke_without_command=True)
@database_options
@click.option("--venue", help="The venue to print (required without a subcommand).")
def status(database: str, venue: str | None) -> None:
    """Print a venue's events held, occupancy, current document versions and what each gate runs, as JSON;
    `status import` takes a status feed (the authority's colours, a lab's results) from a file.

    Example: checkpoint hub status --db hub.db --venue acme
    """
    if click.get_current_context().invoked_subcommand is not None:
        return
    if venue is None:
        raise click.UsageError("Missing option '--venue'.")
    store = _store(database)
    occupancy = store.occupancy(venue)
    if occupancy is None:
        raise click.ClickException(f"no venue {venue!r}")
    answer = {"venue": venue, "events": store.event_count(venue), "occupancy": occupancy,
              "versions": store.versions(venue), "running": {g["id"]: g["running"] for g in store.gates(venue)}}
    store.close()
    click.echo(json.dumps(answer, ensure_ascii=False, default=str))


@hub.command()
@database_options
def purge(database: str) -> None:
    """Delete events past each venue's retention (counts kept), null reviews', reservations', visits' personal fields.

    Example: checkpoint hub purge --db hub.db   (the served hub also runs it in the background, one process at a time)
    """
    from server.retention import purge_database

    _store(database).close()
    purged = purge_database(database)
    if purged is None:
        click.echo("another hub process is purging now: nothing done / 其他进程正在清理")
        return
    click.echo(f"deleted {sum(purged.values())} events past retention "
               + (", ".join(f"{v}: {n}" for v, n in purged.items()) or ""))


@hub.command("enroll-token")
@database_options
@click.option("--venue", required=True, callback=_ids)
@click.option("--gate", required=True, callback=_ids)
def enroll_token(database: str, venue: str, gate: str) -> None:
    """Print a one-time token a device at this gate enrolls with (the gate is added if new).

    Example: checkpoint hub enroll-token --venue acme --gate north
    """
    store = _store(database)
    if store.venue(venue) is None:
        raise click.ClickException(f"no venue {venue!r}: add it with `checkpoint hub add-venue --venue {venue}`")
    store.create_gate(venue, gate)
    click.echo(store.create_enroll_token(venue, gate))


@hub.command("revoke-device")
@database_options
@click.option("--venue", required=True)
@click.option("--device", "device_id", required=True)
def revoke_device(database: str, venue: str, device_id: str) -> None:
    """Revoke a lost or stolen device; then re-run mosquitto-config and reload the broker.

    Example: checkpoint hub revoke-device --venue acme --device dev-01jdq...
    """
    if not _store(database).revoke_device(venue, device_id):
        raise click.ClickException(f"no live device {device_id!r} at venue {venue!r}")
    click.echo(f"{device_id} revoked; now run `checkpoint hub mosquitto-config` and reload Mosquitto (SIGHUP)")


@hub.command("mosquitto-config")
@database_options
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for passwd, acl and hub.secret.")
@click.option("--hub-processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many hub processes (bridges, watchers) log in: each gets its own broker account.")
def mosquitto_config(database: str, out: Path, hub_processes: int) -> None:
    """Write Mosquitto's password and ACL files (each device only under its own gate) and print the config lines.

    The lines printed (not starting with #) go into mosquitto.conf; they include
    `use_username_as_clientid true`, so no client can take over another's session by its client id.

    Example: checkpoint hub mosquitto-config --out /etc/mosquitto/checkpoint --hub-processes 2
    """
    files = write_broker_files(_store(database), out, hub_processes)
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
@database_options
@click.option("--mqtt-host", required=True)
@click.option("--mqtt-port", type=int, default=1883, show_default=True)
@click.option("--username", default="hub", show_default=True, envvar="CHECKPOINT_HUB_MQTT_USER",
              help="This hub process's own broker account (`hub`, `hub-2`, ...: one per process).")
@click.option("--password-file", type=click.Path(path_type=Path), help="File holding the hub's broker password.")
def bridge(database: str, mqtt_host: str, mqtt_port: int, username: str, password_file: Path | None) -> None:
    """Run the MQTT bridge: events in, acks and retained notices out (until SIGINT/SIGTERM).

    Example: checkpoint hub bridge --mqtt-host 127.0.0.1 --password-file /etc/mosquitto/checkpoint/hub.secret
    """
    from server.mqtt_bridge import MqttBridge

    _store(database).close()
    password = password_file.read_text().strip() if password_file else None
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    b = MqttBridge(database, mqtt_host, mqtt_port, username if password else None, password)
    b.start()
    click.echo(f"bridge: {mqtt_host}:{mqtt_port} <-> {shown(database_url(database))}")
    done.wait()
    b.stop()


@hub.command()
@database_options
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Threads per worker (a console's live stream holds one while it is open).")
@click.option("--mqtt-host", help="Also run the MQTT bridge against this broker.")
@click.option("--mqtt-port", type=int, default=1883, show_default=True)
@click.option("--mqtt-password-file", type=click.Path(path_type=Path))
@click.option("--mqtt-username", default="hub", show_default=True, envvar="CHECKPOINT_HUB_MQTT_USER",
              help="The bridge's own broker account (one per hub process).")
def serve(database: str, host: str, port: int, workers: int, threads: int, mqtt_host: str | None, mqtt_port: int,
          mqtt_password_file: Path | None, mqtt_username: str) -> None:
    """Serve the hub with gunicorn (not Flask's dev server); with --mqtt-host, the bridge beside it.

    Example: checkpoint hub serve --db hub.db --host 0.0.0.0 --port 8080
    """
    from server.wsgi_server import run_gunicorn

    store = _store(database)
    store.migrate()  # before the workers fork: they find the schema ready
    store.close()
    # The workers and the bridge find the database in the environment, not on a command line (`ps` shows
    # those to every local user, and a URL may carry a password); a SQLite path as an absolute one.
    path = sqlite_path(database)
    os.environ["CHECKPOINT_DATABASE_URL"] = str(path.resolve()) if path is not None else database
    bridge_proc = None
    if mqtt_host:
        cmd = [sys.executable, "-c", "from checkpoint.cli import main; main()", "hub", "bridge",
               "--mqtt-host", mqtt_host, "--mqtt-port", str(mqtt_port), "--username", mqtt_username]
        if mqtt_password_file:
            cmd += ["--password-file", str(mqtt_password_file)]
        bridge_proc = subprocess.Popen(cmd)
    click.echo(f"hub listening on http://{host}:{port} ({workers} workers x {threads} threads, {store.name})")
    try:
        run_gunicorn(host, port, workers, threads)
    finally:
        if bridge_proc is not None:
            bridge_proc.send_signal(signal.SIGINT)
            try:
                bridge_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                bridge_proc.kill()


# The holder side's, the status feeds' and the roster's commands add themselves to `hub` (imported last:
# they use this module's helpers).
from server import holder_cli, roster_cli, status_cli  # noqa: E402,F401
