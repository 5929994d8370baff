"""The `checkpoint` command: a root group whose sub-groups live in the parts that own them.

Sub-groups are imported lazily by dotted name, so no part imports another for the command line,
and a gate without Flask (or a hub without a camera) still runs its own commands.
"""

from __future__ import annotations

import importlib
import logging
import os

import click

# name -> "module:attribute"; each module owns its group.
SUBCOMMANDS = {
    "codes": "protocols.codes_cli:codes",
    "rules": "protocols.rules_cli:rules",
    "scan": "agent.scan_cli:scan",
    "mask": "agent.mask_cli:mask",
    "decide": "agent.decide_cli:decide",
    "agent": "agent.cli:agent",
    "hub": "server.cli:hub",
    "demo": "demo.cli:demo",
    "hardware": "hardware.cli:hardware",
}
# Commands one part adds to another's group, where installed: reading a code from an image is the agent's.
ADDED = {
    "codes": ("agent.scan_cli:inspect",),
}


class LazyGroup(click.Group):
    """A click group that imports each sub-command only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """List the sub-commands whose modules exist in this installation."""
        return sorted(name for name in SUBCOMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return one sub-command, or None when it is not installed."""
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        command = _import(target) if target else None
        if isinstance(command, click.Group):
            for added in filter(None, map(_import, ADDED.get(name, ()))):
                command.add_command(added)  # same name: the fuller command replaces the part's own
        return command


def _import(target: str) -> click.Command | None:
    """The command at "module:attribute", or None when its module (or its extra) is not installed."""
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only a missing module of ours (or its extra) hides the command; other errors show.
        if exc.name and (exc.name == module_name or not exc.name.startswith(module_name.split(".")[0])):
            logging.getLogger(__name__).debug("command %s unavailable: %s", target, exc)
            return None
        raise
    return getattr(module, attr)


@click.group(cls=LazyGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Venue checkpoint: health codes, temperature and admission at the gate.

    Example: checkpoint codes keygen --out keys/
    """
    level = os.environ.get("CHECKPOINT_LOG") or ["WARNING", "INFO", "DEBUG"][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
