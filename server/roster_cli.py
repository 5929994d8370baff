"""`checkpoint hub roster import`: a venue's roster from a CSV or XLSX file (server/roster_import.py)."""

from __future__ import annotations

from pathlib import Path

import click

from server.cli import _ids, _store, database_options, hub
from server.roster_import import import_roster
from server.tabular_files import TableFileError, file_bytes


@hub.group("roster")
def roster() -> None:
    """A venue's enrolled people (the roster the gates admit by)."""


@roster.command("import")
@database_options
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--venue", required=True, callback=_ids)
@click.option("--dry-run", is_flag=True, help="Check the file and count the changes; store nothing.")
def import_command(database: str, file: Path, venue: str, dry_run: bool) -> None:
    """Import a roster (CSV in UTF-8 or GBK, or XLSX): all rows or none; prints added/changed/removed.

    Columns: 身份证号 / id number, 姓名 / name, 人员类别 / person class, 分组 / group, 手机号 / phone (optional).
    Each error names its row and column, and a file with any error imports nothing (exit status 1).

    Example: checkpoint hub roster import staff.xlsx --venue acme --dry-run
    """
    store = _store(database)
    if store.venue(venue) is None:
        raise click.ClickException(f"场所不存在 / no such venue: {venue}")
    try:
        data = file_bytes(file)
    except TableFileError as e:
        _refuse(e.errors)
    result = import_roster(store, venue, data, file.name, by_user="cli", dry_run=dry_run)
    if not result.ok:
        _refuse(result.errors)
    c = result.changes
    assert c is not None  # an accepted file always has its changes
    head = "预览（未保存） / dry run (nothing stored)" if dry_run else f"已导入 / imported (roster v{c.roster_version})"
    click.echo(f"{head}: {result.rows} rows ({result.encoding}); "
               f"added {c.added}, changed {c.changed}, removed {c.removed}, unchanged {c.unchanged}")


def _refuse(errors) -> None:
    """Print each error on stderr and stop with status 1: nothing was imported."""
    for e in errors:
        click.echo(str(e), err=True)
    raise click.ClickException(f"未导入任何人员（{len(errors)} 处错误） / nothing imported ({len(errors)} error(s))")
