"""`checkpoint hub status import FILE --venue V --source authority|lab`: a status feed from a script."""

from __future__ import annotations

import json
from pathlib import Path

import click

from server.cli import _ids, _store, database_options, status
from server.reports import venue_zone
from server.status_feeds import COLUMNS, FEEDS, import_feed
from server.tabular_files import TableFileError, read_table_file


@status.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@database_options
@click.option("--venue", required=True, callback=_ids)
@click.option("--source", type=click.Choice(FEEDS), required=True,
              help="authority: columns 身份证号/id, 健康码/colour, 赋码时间/since; lab: 身份证号/id, 采样时间/sampled_at, 检测结果/result.")
def import_status(file: Path, database: str, venue: str, source: str) -> None:
    """Store a feed file (CSV in UTF-8, UTF-8 with BOM or GBK, or XLSX) for the venue's enrolled people, all rows
    or none (audited as `cli`); prints the rows stored and those whose ID is not enrolled, as JSON.

    Example: checkpoint hub status import colours.csv --venue acme --source authority
    """
    store = _store(database)
    row = store.venue(venue)
    if row is None:
        raise click.ClickException(f"场所不存在 / no such venue: {venue}")
    try:
        table = read_table_file(file, COLUMNS[source])
        result = import_feed(store, venue, source, table, by_user="cli", zone=venue_zone(row))
    except TableFileError as exc:
        lines = "\n".join(str(e) for e in exc.errors)
        raise click.ClickException(f"导入被拒绝，未保存任何记录 / the import is refused, nothing was stored:\n{lines}") from exc
    click.echo(json.dumps({"source": source, "stored": result.stored, "unknown_rows": result.unknown_rows}))
