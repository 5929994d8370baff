"""`checkpoint hub issuer-key` and `checkpoint hub holder-link`: the venue's issuer key, a holder's link."""

from __future__ import annotations

import json
from pathlib import Path

import click

from server.cli import _ids, _store, database_options, hub
from server.issuing import IssuerKeys, default_key_folder


def _keys(database: str, keys: Path | None) -> IssuerKeys:
    return IssuerKeys(keys or default_key_folder(database))


@hub.command("issuer-key")
@database_options
@click.option("--venue", required=True, callback=_ids)
@click.option("--keys", type=click.Path(path_type=Path), envvar="CHECKPOINT_ISSUER_KEYS",
              help="The issuer-key folder (default: issuer-keys/ beside the SQLite file; env CHECKPOINT_ISSUER_KEYS).")
def issuer_key(database: str, venue: str, keys: Path | None) -> None:
    """Create the venue's issuer key (0600) when it has none; print its trust-list entry (JSON).

    Sign the entry into the venue's trust list with the root key, which the hub never holds, and publish it.

    Example: checkpoint hub issuer-key --venue acme > acme-issuer.json
    """
    if _store(database).venue(venue) is None:
        raise click.ClickException(f"场所不存在 / no such venue: {venue}")
    folder = _keys(database, keys)
    folder.create(venue)
    click.echo(json.dumps(folder.trusted_key(venue).to_json(), ensure_ascii=False))


@hub.command("holder-link")
@database_options
@click.option("--venue", required=True, callback=_ids)
@click.option("--id", "id_number", required=True, help="The person's resident ID number (hashed, never stored).")
@click.option("--base-url", default="http://127.0.0.1:8080", show_default=True, envvar="CHECKPOINT_HUB_URL",
              help="The hub's address as holders' phones reach it.")
@click.option("--revoke", is_flag=True, help="Revoke the person's link instead of issuing a new one.")
def holder_link(database: str, venue: str, id_number: str, base_url: str, revoke: bool) -> None:
    """Issue an enrolled person's link (the old one stops working) and print it; or revoke it (audited).

    Example: checkpoint hub holder-link --venue acme --id 11010519491231002X --base-url https://hub.example.cn
    """
    store = _store(database)
    person = store.person(venue, id_hash=store.id_hash(id_number))
    if person is None:
        raise click.ClickException("该证件号在此场所未登记 / this ID number is not enrolled at this venue")
    if revoke:
        n = store.revoke_holder_links(venue, person["subject"])
        store.add_audit("cli", "holder.link_revoke", f"{person['subject']}: {n}", venue)
        click.echo(f"revoked {n} link(s) of {person['masked_name']}")
        return
    secret = store.issue_holder_link(venue, person["subject"], "cli")
    store.add_audit("cli", "holder.link_issue", person["subject"], venue)
    click.echo(f"{base_url.rstrip('/')}/h/{secret}")
