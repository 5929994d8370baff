"""`checkpoint agent ...`: run a gate, simulate one, check a config file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from agent.config import AgentConfig, error_lines, load_config
from agent.decider import PACK_FOR_VENUE
from agent.outcome import shown_reasons
from protocols.errors import CheckpointError, ConfigError
from protocols.events import GateEvent

log = logging.getLogger(__name__)


def _load_or_exit(path: Path) -> AgentConfig:
    """Load a config, or print each error with its key path and exit 1."""
    try:
        return load_config(path)
    except ValidationError as exc:
        for line in error_lines(exc):
            click.echo(f"{path}: {line}", err=True)
        sys.exit(1)
    except ConfigError as exc:
        click.echo(f"{path}: {exc}", err=True)
        sys.exit(1)


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


@agent.command("run")
@click.option("--config", "config_file", required=True, type=click.Path(path_type=Path), help="The gate's TOML file.")
def run(config_file: Path) -> None:
    """Run a gate with the devices its config names, until SIGINT/SIGTERM.

    Example: checkpoint agent run --config /etc/checkpoint/agent.toml
    """
    from agent.gate import build_gate

    cfg = _load_or_exit(config_file)
    try:
        gate = build_gate(cfg, on_event=_print_event)
    except CheckpointError as exc:
        click.echo(f"{config_file}: {exc}", err=True)
        sys.exit(1)
    _run_until_signal(gate)


@agent.command("simulate")
@click.option("--people", default=20, show_default=True, help="How many simulated people come to the gate (0: forever).")
@click.option("--venue-kind", type=click.Choice(sorted(PACK_FOR_VENUE)), default="factory", show_default=True)
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="Start from this TOML (devices are simulated anyway).")
@click.option("--store", "store_path", type=click.Path(path_type=Path), help="SQLite file (default: a temporary one).")
@click.option("--kiosk-port", default=0, show_default=True, help="Port of the kiosk page (0: any free port).")
@click.option("--journal-dir", type=click.Path(path_type=Path), help="Append relay changes and screens here.")
@click.option("--pace", default=1.0, show_default=True, help="Seconds between people.")
@click.option("--seed", type=int, help="Seed for a repeatable stream of people.")
@click.option("--voice/--no-voice", default=False, help="Speak each decision through espeak-ng.")
def simulate(people: int, venue_kind: str, config_file: Path | None, store_path: Path | None, kiosk_port: int,
             journal_dir: Path | None, pace: float, seed: int | None, voice: bool) -> None:
    """Run the same agent with every device simulated and a stream of simulated people.

    Prints each decision as it happens. Example: checkpoint agent simulate --people 10
    """
    import os
    import tempfile

    from agent.config import parse_config, read_toml
    from agent.simulation import Simulation

    os.environ.setdefault("CHECKPOINT_SUBJECT_KEY", "simulation-only-subject-key-not-for-venues")
    data = read_toml(config_file) if config_file else {"gate": {"venue": "demo-venue", "gate": "gate-1"}}
    tmp = tempfile.TemporaryDirectory(prefix="checkpoint-sim-")
    data = {**data, "camera": {"type": "simulated", "fps": 30}, "thermometer": {"type": "simulated"},
            "barrier": {"type": "simulated", "journal": str(journal_dir / "relay.jsonl") if journal_dir else None},
            "speaker": {"type": "espeak" if voice else "recording"},
            "kiosk": {**data.get("kiosk", {}), "port": kiosk_port,
                      "journal": str(journal_dir / "screens.jsonl") if journal_dir else None},
            "store": {"path": str(store_path or Path(tmp.name) / "agent.sqlite")}}
    data["gate"] = {**data["gate"], "venue_kind": venue_kind}
    data["measure"] = {"rest_s": 3.0, **data.get("measure", {})}
    try:
        cfg = parse_config(data)
    except ValidationError as exc:
        for line in error_lines(exc):
            click.echo(line, err=True)
        sys.exit(1)
    sim = Simulation(cfg, seed=seed, on_event=_print_event)
    click.echo(f"kiosk page: {sim.kiosk_url}   store: {cfg.store.path}")
    try:
        summary = sim.run(people, pace)
    finally:
        sim.close()
        tmp.cleanup()
    click.echo(summary)


def _print_event(event: GateEvent) -> None:
    """One line per decision, as it happens."""
    mark = {"admit": "✔ 放行 ADMIT", "deny": "✘ 拒绝 DENY ", "refer": "? 转人工 REFER"}.get(event.decision or "", "-")
    temp = f"{event.celsius:.1f}°C" if event.celsius is not None else "  -   "
    why = "; ".join(f"{r.message_zh} · {r.message_en}" for r in shown_reasons(event.reasons))
    kind = "" if event.kind == "decision" else f"[{event.kind}] "
    click.echo(f"{event.at.astimezone():%H:%M:%S} {mark} {kind}{event.name or '-':<4} {event.colour or '-':<6} {temp} {why}")


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
