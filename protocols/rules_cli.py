"""`checkpoint rules`: build signed rule bundles, evaluate CertLogic, show and backtest bundles."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import unicodedata
from pathlib import Path
from typing import Any

import click

from protocols.bundle import Bundle, build_bundle, bundle_from_body, parse_risk_areas, sign_bundle
from protocols.certlogic import compile_expression, to_json
from protocols.decision import backtest as replay_records
from protocols.errors import BundleError, CheckpointError, ConfigError, RuleError
from protocols.keys import load_private_key, load_public_key
from protocols.rules import load_pack, pack_names, parse_pack
from protocols.signed import verify_document

log = logging.getLogger(__name__)


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file or stop with one clear line naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.UsageError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"{what} {path} is not JSON: {exc}") from exc


def parse_time(value: str, option: str) -> dt.datetime:
    """An ISO 8601 time for an option; naive times are UTC."""
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.UsageError(f"{option}: not an ISO 8601 time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def read_bundle(path: Path, root_pub: Path | None) -> Bundle:
    """A bundle file, its signature checked when a root public key is given (no age limit here)."""
    doc = read_json(path, "bundle")
    try:
        if root_pub is not None:
            body = verify_document(doc, load_public_key(root_pub), error=BundleError)
        elif isinstance(doc, dict) and isinstance(doc.get("body"), dict):
            body = doc["body"]
        else:
            raise BundleError("not a signed bundle document")
        return bundle_from_body(body)
    except (BundleError, ConfigError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


@click.group()
def rules() -> None:
    """Rules as data: policy packs, signed bundles, the CertLogic evaluator.

    Example: checkpoint rules bundle --pack factory-gate --key keys/root-key.pem --out bundle.json
    """


@rules.command()
@click.option("--pack", "pack_name", required=True, help=f"A shipped pack ({', '.join(pack_names())}) or a pack JSON file.")
@click.option("--params", "params_path", type=click.Path(dir_okay=False, path_type=Path), help="JSON object of parameter overrides.")
@click.option("--risk-areas", "risk_path", type=click.Path(dir_okay=False, path_type=Path), help="Risk-area list JSON.")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Hub root private key (PEM).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to write the signed bundle.")
@click.option("--valid-from", help="ISO 8601 time the bundle applies from (default: now).")
def bundle(pack_name: str, params_path: Path | None, risk_path: Path | None, key_path: Path, out_path: Path, valid_from: str | None) -> None:
    """Sign a pack, a venue's parameters and the risk-area list into a bundle for the gates.

    Example: checkpoint rules bundle --pack school-gate --params school.json --risk-areas risk.json --key keys/root-key.pem --out bundle.json
    """
    try:
        pack = parse_pack(read_json(Path(pack_name), "pack")) if Path(pack_name).is_file() else load_pack(pack_name)
        params = read_json(params_path, "params") if params_path else {}
        if not isinstance(params, dict):
            raise click.UsageError(f"params {params_path} must be a JSON object")
        areas = parse_risk_areas(read_json(risk_path, "risk-area list")) if risk_path else None
        key = load_private_key(key_path)
        start = parse_time(valid_from, "--valid-from") if valid_from else None
        built = build_bundle(pack, params, areas, start)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from exc
    out_path.write_text(json.dumps(sign_bundle(built, key), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    click.echo(f"{built.version}: {len(built.pack.rules)} rules -> {out_path}")


@rules.command(name="eval")
@click.option("--expr", "expr_path", type=click.Path(dir_okay=False, path_type=Path), help="CertLogic expression (JSON).")
@click.option("--data", "data_path", type=click.Path(dir_okay=False, path_type=Path), help="Data context (JSON).")
@click.option("--cases", "cases_path", type=click.Path(dir_okay=False, path_type=Path), help='JSON lines: {"expr": ..., "data": ...}.')
def eval_(expr_path: Path | None, data_path: Path | None, cases_path: Path | None) -> None:
    """Evaluate CertLogic and print the result as JSON; with --cases, one result per line.

    A case that fails to evaluate prints {"error": "..."} on its line (and the run goes on).

    Example: checkpoint rules eval --expr rule.json --data data.json
    """
    if cases_path is not None:
        if expr_path or data_path:
            raise click.UsageError("give --cases, or --expr with --data, not both")
        try:
            lines = cases_path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise click.UsageError(f"cannot read cases {cases_path}: {exc.strerror}") from exc
        for line in lines:
            if line.strip():
                click.echo(json.dumps(_eval_case(line), ensure_ascii=False))
        return
    if expr_path is None or data_path is None:
        raise click.UsageError("give --expr and --data (or --cases)")
    expr, data = read_json(expr_path, "expression"), read_json(data_path, "data")
    try:
        click.echo(json.dumps(to_json(compile_expression(expr)(data)), ensure_ascii=False))
    except RuleError as exc:
        click.echo(json.dumps({"error": str(exc)}, ensure_ascii=False))
        sys.exit(1)


def _eval_case(line: str) -> Any:
    try:
        case = json.loads(line)
        if not isinstance(case, dict) or "expr" not in case:
            return {"error": 'a case is a JSON object {"expr": ..., "data": ...}'}
        return to_json(compile_expression(case["expr"])(case.get("data")))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        return {"error": f"not JSON: {exc}"}
    except RuleError as exc:
        return {"error": str(exc)}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


@rules.command()
@click.option("--bundle", "bundle_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Bundle file.")
@click.option("--root-pub", type=click.Path(dir_okay=False, path_type=Path), help="Root public key: also check the signature.")
def show(bundle_path: Path, root_pub: Path | None) -> None:
    """Print a bundle's rules as a table a supervisor can read: id, effect, validity, message.

    Example: checkpoint rules show --bundle bundle.json --root-pub keys/root-pub.pem
    """
    shown = read_bundle(bundle_path, root_pub)
    pack, ruleset = shown.pack, shown.ruleset
    click.echo(f"{pack.title_zh} {pack.title_en} | bundle {shown.version}")
    click.echo(f"签发 issued {shown.issued_at.isoformat()} | 生效 valid from {shown.valid_from.isoformat()}"
               f" | 签名 signature {'verified' if root_pub else 'NOT checked (pass --root-pub)'}")
    click.echo("参数 params: " + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in ruleset.params.items()))
    click.echo(f"风险地区 risk areas: {len(shown.risk_areas.regions)} regions, {len(shown.risk_areas.provinces)} provinces with local cases")
    rows = [("规则 rule", "不通过 fail", "缺数据 open", "有效期 valid", "提示 message")]
    for compiled in ruleset.rules:
        rule = compiled.rule
        until = rule.valid_to.date().isoformat() if rule.valid_to else "…"
        rows.append((f"{rule.id} v{rule.version}", rule.severity, rule.open_effect, f"{rule.valid_from.date()}→{until}", compiled.message_zh))
        rows.append(("", "", "", "", compiled.message_en))
    widths = [max(_width(row[i]) for row in rows) for i in range(4)]
    for number, row in enumerate(rows):
        click.echo("  ".join(_pad(cell, w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
        if number == 0:
            click.echo("-" * (sum(widths) + 8 + 40))


@rules.command()
@click.option("--bundle", "bundle_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The new bundle.")
@click.option("--events", "events_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSON lines of recorded decisions with their inputs.")
@click.option("--root-pub", type=click.Path(dir_okay=False, path_type=Path), help="Root public key: also check the signature.")
def backtest(bundle_path: Path, events_path: Path, root_pub: Path | None) -> None:
    """Replay recorded decisions against a new bundle and list those that would change.

    Each line is a recorded decision {"id", "at", "decision", "inputs": {"payload", "external"}}
    (see docs/rules.md); one JSON line is printed per changed decision, then a summary line.

    Example: checkpoint rules backtest --bundle new-bundle.json --events decisions.jsonl
    """
    new = read_bundle(bundle_path, root_pub)
    try:
        lines = events_path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise click.UsageError(f"cannot read events {events_path}: {exc.strerror}") from exc
    def records():
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    log.warning("line %d is not JSON: %s", number, exc)
                    yield None

    result = replay_records(new, records())
    for change in result.changes:
        click.echo(json.dumps({**change, "bundle_version": new.version}, ensure_ascii=False))
    replayed, changed, skipped = result.replayed, result.changed, result.skipped
    click.echo(json.dumps({"replayed": replayed, "changed": changed, "skipped": skipped, "bundle_version": new.version}))
