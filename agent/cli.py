"""`checkpoint agent ...`: run a gate, simulate one, check a config file."""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from pydantic import ValidationError

from agent.config import DEVICE_SECRET_ENV, AgentConfig, error_lines, load_config, table
from agent.decider import PACK_FOR_VENUE
from agent.outcome import shown_reasons
from protocols.display import label
from protocols.errors import CheckpointError, ConfigError
from protocols.events import REMEASURE_KIND, GateEvent

log = logging.getLogger(__name__)


# A config file that cannot be used exits 2 (bad input), as click's own usage errors do.
BAD_CONFIG_EXIT = 2


def _load_or_exit(path: Path) -> AgentConfig:
    """Load a config, or print each error with its key path and exit 2."""
    try:
        return load_config(path)
    except ValidationError as exc:
        for line in error_lines(exc):
            click.echo(f"{path}: {line}", err=True)
        sys.exit(BAD_CONFIG_EXIT)
    except ConfigError as exc:
        # read_toml's errors name the file already.
        click.echo(str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}", err=True)
        sys.exit(BAD_CONFIG_EXIT)


@click.group()
def agent() -> None:
    """The gate agent: scan, verify, measure, decide, actuate, record.

    Example: checkpoint agent simulate --people 10
    """


@agent.command("validate-config")
@click.argument("config_file", type=click.Path(path_type=Path))
def validate_config(config_file: Path) -> None:
    """Check a gate's TOML config; print each error with its key path.

    Example: CHECKPOINT_SUBJECT_KEY=... checkpoint agent validate-config /etc/checkpoint/agent.toml
    """
    cfg = _load_or_exit(config_file)
    click.echo(f"{config_file}: ok (venue {cfg.gate.venue}, gate {cfg.gate.gate})")


@agent.command("calibrate-thermometer")
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reference", "references", type=float, multiple=True, required=True,
              help="A reference thermometer's reading of the same target (°C); twice for a two-point fit.")
@click.option("--measured", type=float, multiple=True,
              help="What the gate showed for each --reference, in order; absent: read the configured thermometer.")
@click.option("--seconds", type=float, default=5.0, show_default=True, help="How long to read the thermometer.")
@click.option("--operator", required=True, help="Who calibrates (written to the audit line).")
def calibrate_thermometer(config_file: Path, references: tuple[float, ...], measured: tuple[float, ...],
                          seconds: float, operator: str) -> None:
    """Fit the thermometer's offset (one reference) or gain and offset (two) and write them into the config.

    The gate must be restarted to use them. Each calibration appends a line to
    thermometer-calibration.jsonl beside the config. Example (a blackbody at 36.8 °C held in front
    of the gate's sensor): checkpoint agent calibrate-thermometer /etc/checkpoint/agent.toml --reference 36.8 --operator li
    """
    from agent.calibration import Calibration, fit, write
    from agent.config import read_toml, resolve_paths

    try:
        cfg = AgentConfig.model_validate(read_toml(config_file))  # no secrets needed to calibrate
        resolve_paths(cfg, config_file.resolve().parent)
        if measured and len(measured) != len(references):
            raise click.BadParameter("give one --measured per --reference", param_hint="--measured")
        if not measured and len(references) != 1:
            raise click.BadParameter("two references need --measured for each (the sensor cannot see both at once)",
                                     param_hint="--measured")
        shown = measured or (_mean_reading(cfg.thermometer, seconds),)
        current = Calibration(cfg.thermometer.calibration_offset_c, cfg.thermometer.calibration_gain)
        points = list(zip(references, shown))
        new = fit(points, current)
        audit = write(config_file, new, current, points, operator)
    except ValidationError as exc:
        for line in error_lines(exc):
            click.echo(f"{config_file}: {line}", err=True)
        sys.exit(1)
    except CheckpointError as exc:
        click.echo(f"{config_file}: {exc}", err=True)
        sys.exit(1)
    click.echo(f"thermometer.calibration_offset_c {current.offset_c} -> {new.offset_c}, calibration_gain "
               f"{current.gain} -> {new.gain}; audit: {audit}; restart the gate to use them")


def _mean_reading(settings, seconds: float) -> float:
    """The mean of the configured thermometer's readings over `seconds`, or a DeviceError-style CheckpointError."""
    import statistics
    import time

    from hardware.registry import build_device

    thermometer = build_device(settings)
    readings: list[float] = []
    thermometer.add_listener(lambda r: readings.append(r.celsius))  # type: ignore[attr-defined]
    thermometer.open()
    try:
        time.sleep(seconds)
    finally:
        thermometer.close()
    if not readings:
        raise CheckpointError(f"no reading from the thermometer in {seconds:.0f} s", reason="no_reading")
    return statistics.fmean(readings)


@agent.command("export-decisions")
@click.option("--store", "store_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The gate's SQLite store.")
@click.option("--since", help="Only decisions at or after this ISO 8601 time (naive: UTC).")
@click.option("--until", help="Only decisions before this ISO 8601 time (naive: UTC).")
@click.option("--out", "out_file", type=click.File("w", encoding="utf-8"), default="-", show_default=True,
              help="Where to write the JSON lines (-: standard output).")
def export_decisions(store_path: Path, since: str | None, until: str | None, out_file) -> None:
    """Write the decisions the rules made at this gate, with what they saw, as JSON lines for
    `checkpoint rules backtest`: {"id", "at", "decision", "inputs"}, one per line, oldest first.

    The subject is the venue's keyed hash; no name, code or key id is stored. The decision is the
    rules' own (a venue-cap denial of an admit is exported as admit). Example:
    checkpoint agent export-decisions --store /var/lib/checkpoint/agent.sqlite --since 2026-11-01 --out decisions.jsonl;
    checkpoint rules backtest --bundle new-bundle.json --events decisions.jsonl
    """
    from agent.store import read_decisions
    from protocols.rules_cli import parse_time

    start = parse_time(since, "--since") if since else None
    end = parse_time(until, "--until") if until else None
    count = 0
    try:
        for record in read_decisions(store_path, start, end):
            out_file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    out_file.flush()
    click.echo(f"导出 exported {count} decisions from {store_path}", err=True)


@agent.command("run")
@click.option("--config", "config_file", required=True, type=click.Path(path_type=Path), help="The gate's TOML file.")
def run(config_file: Path) -> None:
    """Run a gate with the devices its config names, until SIGINT/SIGTERM.

    Example: checkpoint agent run --config /etc/checkpoint/agent.toml
    """
    from agent.gate import build_gate

    cfg = _load_or_exit(config_file)
    try:
        gate = build_gate(cfg, on_event=_event_printer(cfg.gate.tz))
    except CheckpointError as exc:
        click.echo(f"{config_file}: {exc}", err=True)
        sys.exit(1)
    _run_until_signal(gate)


@agent.command("simulate")
@click.option("--people", default=20, show_default=True, help="How many simulated people come to the gate (0: forever).")
@click.option("--venue-kind", type=click.Choice(sorted(PACK_FOR_VENUE)), default="factory", show_default=True)
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="Start from this TOML (devices are simulated anyway; its relative paths resolve against its folder).")
@click.option("--store", "store_path", type=click.Path(path_type=Path), help="SQLite file (default: a temporary one).")
@click.option("--kiosk-port", default=0, show_default=True, help="Port of the kiosk page (0: any free port).")
@click.option("--journal-dir", type=click.Path(path_type=Path), help="Append relay changes and screens here.")
@click.option("--pace", default=1.0, show_default=True, help="Seconds between people.")
@click.option("--seed", type=int, help="Seed for a repeatable stream of people.")
@click.option("--population", type=click.IntRange(min=1), help="People are residents 1..N, the same at every gate "
              "given the same N: an exit gate walks out residents the venue admitted (default: every person new).")
@click.option("--voice/--no-voice", default=False, help="Speak each decision through espeak-ng.")
@click.option("--venue", help="The venue id (default: the config's, else demo-venue).")
@click.option("--gate", "gate_id", help="The gate id (default: the config's, else gate-1).")
@click.option("--direction", type=click.Choice(["in", "out"]), help="An entry or an exit gate (default: the config's, else in).")
@click.option("--hub", "hub_url", help="Sync to this hub (http://host:port), as `agent run` does with [sync].")
@click.option("--enroll-token", help="Enroll at the hub with this one-time token (gives the device id, secret, venue, gate).")
@click.option("--device-id", help="The device id the hub gave at enrollment (with --secret).")
@click.option("--secret", envvar=DEVICE_SECRET_ENV, show_envvar=True, help="The device's secret (prefer the env variable).")
@click.option("--mqtt-host", help="The hub's MQTT broker (default: HTTP sync only).")
@click.option("--mqtt-port", default=1883, show_default=True, type=click.IntRange(1, 65535))
@click.option("--kinds", default="", help="Only these kinds of people, comma-separated (e.g. green,red); default: every kind.")
@click.option("--issuer-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sign the simulated people with this issuer's private key (PEM) instead of a fresh one.")
@click.option("--root-pub", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Decide by the signed bundle and trust list (the hub's, with --hub) checked against this root key.")
@click.option("--holders", "holders_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A file of the hub's holder links, one a line (read again when it changes): people of the kinds a "
                   "holder can be show the pass their holder page gives now.")
@click.option("--schedule-pub", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The hub's schedule key (public half): the venue's signed schedule and daily controls are checked with it.")
@click.option("--sync-interval", default=2.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between HTTP syncs and lease renewals.")
def simulate(people: int, venue_kind: str, config_file: Path | None, store_path: Path | None, kiosk_port: int,
             journal_dir: Path | None, pace: float, seed: int | None, population: int | None, voice: bool, venue: str | None,
             gate_id: str | None, direction: str | None, hub_url: str | None, enroll_token: str | None, device_id: str | None,
             secret: str | None, mqtt_host: str | None, mqtt_port: int, kinds: str, issuer_key: Path | None,
             root_pub: Path | None, holders_file: Path | None, schedule_pub: Path | None, sync_interval: float) -> None:
    """Run the same agent with every device simulated and a stream of simulated people.

    Prints each decision as it happens. With --hub it syncs to the hub and admits within the
    venue's cap; with --root-pub as well it runs the hub's signed bundle and trust list, and
    --issuer-key signs its people with the key that list trusts. Examples:
    checkpoint agent simulate --people 10;
    checkpoint agent simulate --hub http://127.0.0.1:8080 --enroll-token TOKEN --mqtt-host 127.0.0.1
    """
    import os
    import tempfile

    from agent.config import parse_config, read_toml, resolve_paths
    from agent.people import PeopleFactory
    from agent.simulation import Simulation

    chosen = tuple(k.strip() for k in kinds.split(",") if k.strip())
    unknown = sorted(set(chosen) - set(PeopleFactory.KINDS))
    if unknown:
        raise click.BadParameter(f"unknown kinds {unknown}; choose from {sorted(set(PeopleFactory.KINDS))}",
                                 param_hint="--kinds")

    if root_pub and not issuer_key:
        raise click.UsageError("--root-pub needs --issuer-key: the simulated people must be signed by a key "
                               "the trust list trusts")
    os.environ.setdefault("CHECKPOINT_SUBJECT_KEY", "simulation-only-subject-key-not-for-venues")
    # Paths given here are the shell's (absolute from now on); relative ones in --config resolve against
    # its folder, as `agent run` reads it.
    store_path, journal_dir, root_pub, schedule_pub = (p.absolute() if p else None
                                                       for p in (store_path, journal_dir, root_pub, schedule_pub))
    try:
        data = read_toml(config_file) if config_file else {"gate": {"venue": "demo-venue", "gate": "gate-1"}}
        # The sections merged below must be tables: `gate = 5` is named, not a TypeError.
        sections = {key: table(data, key, config_file or "--config") for key in ("gate", "sync", "kiosk", "rules", "measure")}
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(BAD_CONFIG_EXIT)
    data = {**data, **{key: value for key, value in sections.items() if key in data or key == "gate"}}
    data["gate"] = {**data["gate"], **({"venue": venue} if venue else {}), **({"gate": gate_id} if gate_id else {}),
                    **({"direction": direction} if direction else {})}
    tmp = tempfile.TemporaryDirectory(prefix="checkpoint-sim-")
    env = dict(os.environ)
    if hub_url:
        device_id, secret = _hub_device(hub_url, enroll_token, device_id, secret, data)
        env[DEVICE_SECRET_ENV] = secret
        data["sync"] = {**data.get("sync", {}), "hub_url": hub_url, "device_id": device_id,
                        "mqtt_host": mqtt_host, "mqtt_port": mqtt_port, "interval_s": sync_interval,
                        # One folder per store: gates whose stores share a folder (the demo's) must not share documents.
                        "documents_dir": str(store_path.parent / f"{store_path.stem}.documents" if store_path
                                             else Path(tmp.name) / "documents")}
    data = {**data, "camera": {"type": "simulated", "fps": 30}, "thermometer": {"type": "simulated"},
            "barrier": {"type": "simulated", "journal": str(journal_dir / "relay.jsonl") if journal_dir else None},
            "speaker": {"type": "espeak" if voice else "recording"},
            "kiosk": {**data.get("kiosk", {}), "port": kiosk_port,
                      "journal": str(journal_dir / "screens.jsonl") if journal_dir else None},
            "store": {"path": str(store_path or Path(tmp.name) / "agent.sqlite")}}
    data["gate"] = {**data["gate"], "venue_kind": venue_kind}
    if root_pub:
        data["rules"] = {**data.get("rules", {}), "root_public_key": str(root_pub)}
    if schedule_pub:
        data["rules"] = {**data.get("rules", {}), "schedule_public_key": str(schedule_pub)}
    data["measure"] = {"rest_s": 3.0, **data.get("measure", {})}
    try:
        cfg = parse_config(data, env)
        if config_file:
            resolve_paths(cfg, config_file.resolve().parent)
    except ValidationError as exc:
        for line in error_lines(exc):
            click.echo(f"{config_file}: {line}" if config_file else line, err=True)
        sys.exit(BAD_CONFIG_EXIT)
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(BAD_CONFIG_EXIT)
    try:
        sim = Simulation(cfg, seed=seed, on_event=_event_printer(cfg.gate.tz), population=population,
                         issuer_key=_issuer_key(issuer_key) if issuer_key else None,
                         holders=holders_file.absolute() if holders_file else None)
    except CheckpointError as exc:
        tmp.cleanup()
        raise click.ClickException(str(exc)) from exc
    synced = f"   hub: {cfg.sync.hub_url} as {cfg.sync.device_id}" if cfg.sync is not None else ""
    # SIGTERM (systemd, the demo, kill) ends the run after the person at the gate: the summary, the gate
    # stopped, temp files gone. A flag, not an exception: one raised inside a callback is swallowed.
    # Set before the line below, which tells a caller the simulation is up.
    signal.signal(signal.SIGTERM, lambda signum, frame: sim.stopping.set())
    click.echo(f"kiosk page: {sim.kiosk_url}   store: {cfg.store.path}{synced}")
    try:
        summary = sim.run(people, pace, chosen)
    finally:
        sim.close()
        tmp.cleanup()
    click.echo(summary)


def _issuer_key(path: Path):
    """The simulation issuer's private key, or a clear error."""
    from protocols.keys import load_private_key

    try:
        return load_private_key(path)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--issuer-key") from exc


def _hub_device(hub_url: str, token: str | None, device_id: str | None, secret: str | None,
                data: dict) -> tuple[str, str]:
    """The device's id and secret: enrolled now with a token (which also names venue and gate), or as given."""
    from agent.sync import SyncError, enroll

    if token:
        try:
            answer = enroll(hub_url, token)
        except SyncError as exc:
            raise click.ClickException(f"enrollment failed: {exc}") from exc
        data["gate"] = {**data["gate"], "venue": answer["venue"], "gate": answer["gate"]}
        click.echo(f"enrolled as device {answer['device_id']} for {answer['venue']}/{answer['gate']}")
        return answer["device_id"], answer["secret"]
    if not device_id or not secret:
        raise click.UsageError(f"--hub needs --enroll-token, or --device-id with --secret (or ${DEVICE_SECRET_ENV})")
    return device_id, secret


def _event_printer(zone: ZoneInfo) -> Callable[[GateEvent], None]:
    """The gate's event line printer, its times in the venue's zone (`[gate] timezone`)."""
    return functools.partial(_print_event, zone=zone)


def _print_event(event: GateEvent, zone: ZoneInfo) -> None:
    """One line per decision, as it happens, its time in the venue's zone."""
    mark = {"admit": "✔ 放行 ADMIT", "deny": "✘ 拒绝 DENY ", "refer": "? 转人工 REFER"}.get(event.decision or "", "-")
    if event.kind == "exit":
        mark = "← 离开 EXIT "
    elif event.kind == REMEASURE_KIND:
        mark = "… 复测 RETEST"  # not a refusal: the person rests and measures again
    elif event.decision == "deny" and {r.rule for r in shown_reasons(event.reasons)} == {"GATE-CAP-01"}:
        mark = "… 稍候 WAIT  "  # the venue is full for now: amber on the screen, not a red refusal
    temp = f"{event.celsius:.1f}°C" if event.celsius is not None else "  -   "
    why = "; ".join(f"{r.message_zh} · {r.message_en}" for r in shown_reasons(event.reasons))
    kind = "" if event.kind in ("decision", "exit", REMEASURE_KIND) else f"[{event.kind}] "
    click.echo(f"{event.at.astimezone(zone):%H:%M:%S} {mark} {kind}{event.name or '-':<4} {label('colour', event.colour)[0]:<4} {temp} {why}")


def _run_until_signal(gate) -> None:
    """Run the gate on this thread; SIGTERM and SIGINT stop it and leave the barrier safe."""
    import signal

    def stop(signum: int, frame: object) -> None:
        gate.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        gate.start()
        gate.run()
    except CheckpointError as exc:
        click.echo(f"agent stopped: {exc}", err=True)
        sys.exit(1)
    finally:
        gate.close()
