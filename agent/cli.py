"""`checkpoint agent ...`: run a gate, simulate one, check a config file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from agent.config import AgentConfig, error_lines, load_config
from protocols.errors import ConfigError

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
