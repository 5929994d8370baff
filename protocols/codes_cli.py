"""`checkpoint codes ...`: make keys and trust lists, mint health passes, inspect any code."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import importlib
import json
import logging
import secrets
import sys
from pathlib import Path

import click
import segno

from protocols.clock import utc_now
from protocols.credential import NucleicAcidTest, Stay, Verification
from protocols.errors import CheckpointError, ConfigError
from protocols.healthpass import mint as mint_pass
from protocols.healthpass_claims import CLASSES, COLOURS, TEST_RESULTS, HealthPassClaims
from protocols.cose import PrivateKey
from protocols.keys import (
    ALGS,
    generate_private_key,
    key_id,
    load_private_key,
    load_public_key,
    save_private_key,
    save_public_key,
    spki_der,
)
from protocols.trustlist import USAGES, TrustedKey, TrustList, subject_revocation_hash
from protocols.verify import verify_code

log = logging.getLogger(__name__)

DEFAULT_ISSUER = "CN-VENUE"
KEY_FILES = ("issuer-key.pem", "root-key.pem", "root-pub.pem", "trust-list.json")
# A QR code scanned off a screen wants several pixels per module; aim for ~600 px across.
PNG_TARGET_PX = 600
PNG_BORDER = 4


def parse_time(value: str, option: str) -> dt.datetime:
    """Parse an ISO 8601 time for a CLI option (no zone means UTC) or raise a usage error."""
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=option) from exc
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def parse_stay(value: str) -> Stay:
    """Parse REGION:START:END (e.g. 110101:2026-11-01:2026-11-03) into a Stay."""
    parts = value.split(":")
    if len(parts) != 3:
        raise click.BadParameter(f"{value!r}: use REGION:START:END", param_hint="--stay")
    try:
        stay = Stay(region=parts[0], start=parts[1], end=parts[2])
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: region is 6 digits, dates are YYYY-MM-DD", param_hint="--stay") from exc
    return stay


@click.group()
def codes() -> None:
    """Health codes: make keys and trust lists, mint HP1 passes, inspect any code, revoke.

    Example: checkpoint codes keygen --out keys/ && checkpoint codes mint --key keys/issuer-key.pem
    """


@codes.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write into.")
@click.option("--alg", type=click.Choice(ALGS), default="ES256", show_default=True, help="Key algorithm.")
@click.option("--issuer", default=DEFAULT_ISSUER, show_default=True, help="Issuer name the trust list binds the issuer key to.")
@click.option("--force", is_flag=True, help="Overwrite keys already in the folder.")
def keygen(out_dir: Path, alg: str, issuer: str, force: bool) -> None:
    """Write issuer-key.pem, root-key.pem, root-pub.pem and a root-signed trust-list.json.

    The issuer key may sign HP1 passes; the root key signs the trust list; root-pub.pem is the
    anchor a gate is configured with.

    Example: checkpoint codes keygen --out keys/ --alg EdDSA
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    existing = [name for name in KEY_FILES if (out_dir / name).exists()]
    if existing and not force:
        raise click.UsageError(f"{out_dir} already holds {', '.join(existing)}; pass --force to replace them")
    issuer_key = generate_private_key(alg)  # type: ignore[arg-type]
    root_key = generate_private_key(alg)  # type: ignore[arg-type]
    save_private_key(issuer_key, out_dir / "issuer-key.pem")
    save_private_key(root_key, out_dir / "root-key.pem")
    save_public_key(root_key, out_dir / "root-pub.pem")
    trust = TrustList([TrustedKey.from_public_key(issuer_key.public_key(), issuer, may_sign=("HP1",))])
    trust.save(out_dir / "trust-list.json", root_key)
    click.echo(f"issuer key {key_id(issuer_key.public_key()).hex()} ({alg}) for {issuer}")
    for name in KEY_FILES:
        click.echo(str(out_dir / name))


@codes.command()
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Issuer private key (PEM).")
@click.option("--class", "person_class", type=click.Choice(CLASSES), default="staff", show_default=True)
@click.option("--colour", type=click.Choice(COLOURS), default="green", show_default=True)
@click.option("--colour-since", help="ISO 8601 time the colour was set (default: 30 days before issue).")
@click.option("--test-at", help="ISO 8601 time of the last nucleic-acid test.")
@click.option("--test-hours-ago", type=click.FloatRange(0, 24 * 366), help="Last test this many hours before issue (default 12).")
@click.option("--test-result", type=click.Choice(TEST_RESULTS), default="negative", show_default=True)
@click.option("--no-test", is_flag=True, help="The pass carries no test.")
@click.option("--doses", type=click.IntRange(0, 20), default=0, show_default=True)
@click.option("--stay", "stays", multiple=True, help="REGION:START:END, repeatable (e.g. 110101:2026-11-01:2026-11-03).")
@click.option("--name", default="张*明", show_default=True, help="Masked name.")
@click.option("--subject", help="Pseudonymous subject id (default: a random one).")
@click.option("--issued-at", help="ISO 8601 issue time (default: now).")
@click.option("--valid-minutes", type=click.IntRange(1, 60 * 24 * 366), default=60, show_default=True)
@click.option("--issuer", default=DEFAULT_ISSUER, show_default=True)
@click.option("--png", "png_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write the QR code as PNG.")
def mint(
    key_path: Path,
    person_class: str,
    colour: str,
    colour_since: str | None,
    test_at: str | None,
    test_hours_ago: float | None,
    test_result: str,
    no_test: bool,
    doses: int,
    stays: tuple[str, ...],
    name: str,
    subject: str | None,
    issued_at: str | None,
    valid_minutes: int,
    issuer: str,
    png_path: Path | None,
) -> None:
    """Mint an HP1 health pass and print its text; with --key alone, a green staff pass.

    Example: checkpoint codes mint --key keys/issuer-key.pem --colour yellow --png pass.png
    """
    try:
        key = load_private_key(key_path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    if no_test and (test_at or test_hours_ago is not None):
        raise click.UsageError("--no-test cannot be combined with --test-at or --test-hours-ago")
    if test_at and test_hours_ago is not None:
        raise click.UsageError("give --test-at or --test-hours-ago, not both")
    issued = parse_time(issued_at, "--issued-at") if issued_at else utc_now()
    issued = issued.replace(microsecond=0)
    try:
        test = None
        if not no_test:
            hours = 12 if test_hours_ago is None else test_hours_ago
            at = parse_time(test_at, "--test-at") if test_at else issued - dt.timedelta(hours=hours)
            test = NucleicAcidTest(at=at.replace(microsecond=0), result=test_result)
        since = parse_time(colour_since, "--colour-since") if colour_since else issued - dt.timedelta(days=30)
        claims = HealthPassClaims(
            issuer=issuer,
            subject=subject or secrets.token_hex(8),
            issued_at=issued,
            expires_at=issued + dt.timedelta(minutes=valid_minutes),
            name=name,
            person_class=person_class,
            colour=colour,
            colour_since=since.replace(microsecond=0),
            test=test,
            doses=doses,
            stays=tuple(parse_stay(s) for s in stays),
        )
    except (ValueError, OverflowError) as exc:
        raise click.UsageError(f"invalid claims: {exc}") from exc
    text = mint_pass(claims, key)
    if png_path is not None:
        write_png(text, png_path)
    click.echo(text)


def write_png(text: str, path: Path) -> None:
    """Write text as a QR code PNG with a 4-module border, scaled to be easy to read."""
    qr = segno.make_qr(text)
    modules = qr.symbol_size(scale=1, border=PNG_BORDER)[0]
    qr.save(str(path), kind="png", scale=max(4, PNG_TARGET_PX // modules), border=PNG_BORDER)


def verify_options(command):
    """The options every command that verifies a code takes: the trust to check against, the time, the age limit."""
    options = [
        click.option("--trust", "trust_path", type=click.Path(dir_okay=False, path_type=Path), help="Signed trust list (JSON)."),
        click.option("--root", "root_path", type=click.Path(dir_okay=False, path_type=Path), help="Root public key (default: root-pub.pem beside the list)."),
        click.option("--at", "at_text", help="Check as of this ISO 8601 time (default: now)."),
        click.option("--max-age", type=click.FloatRange(0, 60 * 24 * 366 * 10), help="Refuse passes issued more than this many minutes ago."),
        click.option("--dsc", "dsc_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Trust this one signing certificate (DER, PEM or base64 DER) instead of a list."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def report_code(
    code: str | None,
    trust_path: Path | None,
    root_path: Path | None,
    at_text: str | None,
    max_age: float | None,
    dsc_path: Path | None,
) -> None:
    """Verify one code (None: nothing could be read) and print its JSON report; exit 0 verified, 1 refused."""
    if (trust_path is None) == (dsc_path is None):
        raise click.UsageError("give either --trust TRUSTLIST or --dsc CERT")
    at = parse_time(at_text, "--at") if at_text else utc_now()
    trust = _dsc_trust(dsc_path) if dsc_path is not None else _load_trust(trust_path, root_path)  # type: ignore[arg-type]
    if code is None:
        result = Verification(reason="unreadable")
        result.steps["prefix"] = False
        _emit(result)
        return
    result = verify_code(code, trust, at, None if max_age is None else dt.timedelta(minutes=max_age))
    _emit(result)


@codes.command()
@click.argument("code")
@verify_options
def inspect(code: str, **options) -> None:
    """Verify one code and print a JSON report; exit 0 verified, 1 refused, 2 usage error.

    Example: checkpoint codes inspect "HP1:..." --trust keys/trust-list.json --max-age 10
    """
    report_code(code, **options)


@codes.command()
@click.option("--trust", "trust_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Signed trust list to update in place.")
@click.option("--root-key", "root_key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Root private key that signs the list.")
@click.option("--kid", "kids", multiple=True, help="Revoke every code signed by this key id (base64 or hex), repeatable.")
@click.option("--subject", "subjects", multiple=True, help="Revoke every code of this subject id, repeatable.")
def revoke(trust_path: Path, root_key_path: Path, kids: tuple[str, ...], subjects: tuple[str, ...]) -> None:
    """Add revoked keys or subjects to a trust list and sign it again.

    Example: checkpoint codes revoke --trust keys/trust-list.json --root-key keys/root-key.pem --subject p-42
    """
    if not kids and not subjects:
        raise click.UsageError("give at least one --kid or --subject")
    root_key, trust = _load_for_update(trust_path, root_key_path)
    revoked_kids = set(trust.revoked_kids) | {_parse_kid(k) for k in kids}
    revoked_subjects = set(trust.revoked_subjects) | {subject_revocation_hash(s) for s in subjects}
    updated = TrustList(trust.keys, revoked_kids, revoked_subjects)
    updated.save(trust_path, root_key)
    click.echo(f"{trust_path}: {len(revoked_kids)} revoked keys, {len(revoked_subjects)} revoked subjects")


@codes.command("add-key")
@click.option("--trust", "trust_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Signed trust list to update in place.")
@click.option("--root-key", "root_key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Root private key that signs the list.")
@click.option("--public-key", "public_key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Issuer public key (PEM) to trust.")
@click.option("--dsc", "dsc_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="EU DCC signing certificate to trust (usages from the certificate).")
@click.option("--issuer", default=DEFAULT_ISSUER, show_default=True, help="Issuer name for --public-key.")
@click.option("--may-sign", "may_sign", multiple=True, type=click.Choice(sorted(USAGES)), help="What --public-key may sign (default HP1), repeatable.")
def add_key(trust_path: Path, root_key_path: Path, public_key_path: Path | None, dsc_path: Path | None, issuer: str, may_sign: tuple[str, ...]) -> None:
    """Add a trusted issuer key or DCC signing certificate to a trust list and sign it again.

    Example: checkpoint codes add-key --trust keys/trust-list.json --root-key keys/root-key.pem --dsc DE.pem
    """
    if (public_key_path is None) == (dsc_path is None):
        raise click.UsageError("give either --public-key PEM or --dsc CERT")
    root_key, trust = _load_for_update(trust_path, root_key_path)
    if dsc_path is not None:
        key = _dsc_trust(dsc_path).keys[0]
    else:
        try:
            public_key = load_public_key(public_key_path)  # type: ignore[arg-type]
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from exc
        key = TrustedKey.from_public_key(public_key, issuer, may_sign or ("HP1",))
    if any(k.kid == key.kid and spki_der(k.public_key) == spki_der(key.public_key) for k in trust.keys):
        raise click.UsageError(f"key {key.kid.hex()} is already on the list")
    TrustList([*trust.keys, key], trust.revoked_kids, trust.revoked_subjects).save(trust_path, root_key)
    click.echo(f"{trust_path}: added {key.kid.hex()} ({key.issuer}, may sign {', '.join(sorted(key.may_sign))})")


def _load_for_update(trust_path: Path, root_key_path: Path) -> tuple[PrivateKey, TrustList]:
    try:
        root_key = load_private_key(root_key_path)
        # The list must verify with the key about to re-sign it: never launder a foreign list.
        return root_key, TrustList.load(trust_path, root_key.public_key())
    except CheckpointError as exc:
        raise click.UsageError(str(exc)) from exc


def _parse_kid(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text) if len(text) == 16 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise click.BadParameter(f"{text!r} is not a base64 or hex kid", param_hint="--kid") from exc
    if len(raw) != 8:
        raise click.BadParameter(f"{text!r}: a kid is 8 bytes", param_hint="--kid")
    return raw


def _emit(result: Verification) -> None:
    click.echo(json.dumps(result.report(), ensure_ascii=False))
    sys.exit(0 if result.ok else 1)


def _load_trust(trust_path: Path, root_path: Path | None) -> TrustList:
    try:
        return TrustList.load(trust_path, root_path)
    except CheckpointError as exc:
        raise click.UsageError(f"trust list: {exc}") from exc


def _dsc_trust(dsc_path: Path) -> TrustList:
    from_dsc = None
    # protocols.dcc exposes it; protocols.dcc_dsc is where it is written. Either will do.
    for module_name in ("protocols.dcc", "protocols.dcc_dsc"):
        try:
            from_dsc = getattr(importlib.import_module(module_name), "trusted_key_from_dsc", None)
        except ModuleNotFoundError:
            continue
        if from_dsc is not None:
            break
    if from_dsc is None:
        raise click.UsageError("--dsc needs protocols.dcc, which is not installed")
    try:
        return TrustList.single(from_dsc(dsc_path.read_bytes()))
    except (CheckpointError, ValueError) as exc:
        raise click.UsageError(f"--dsc {dsc_path}: {exc}") from exc
