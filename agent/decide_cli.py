"""`checkpoint decide`: one decision from the command line, exactly as a gate makes it."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from agent.config import SUBJECT_KEY_ENV, subject_key_from_env
from agent.messages import local_reason
from protocols.bundle import DEFAULT_MAX_AGE, verify_bundle
from protocols.clock import utc_now
from protocols.contract import DocumentKind
from protocols.decision import GateContext, evaluate
from protocols.errors import BundleError, ConfigError, TrustListError
from protocols.events import subject_hash
from protocols.schedule import ScheduleError, verify_schedule
from protocols.keys import load_public_key
from protocols.readings import DEFAULT_LIMITS, ReadingLimits, remeasure_reason
from protocols.rules_cli import read_json
from protocols.trustlist import ROOT_PUB_FILENAME, TrustList
from protocols.verify import verify_code

log = logging.getLogger(__name__)


def read_roster(path: Path) -> dict[str, dict[str, Any]]:
    """A roster file: a list of subject ids, {"subjects": [...]}, or {subject: {attributes}}."""
    data = read_json(path, DocumentKind.ROSTER)
    if isinstance(data, dict) and isinstance(data.get("subjects"), list):
        data = data["subjects"]
    if isinstance(data, list) and all(isinstance(s, str) for s in data):
        return {s: {} for s in data}
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        return data
    raise click.UsageError(f"roster {path}: expected a list of subject ids or an object of subject -> attributes")


def read_appointment(path: Path, subject: str | None) -> dict[str, Any] | None:
    """An appointment file: one appointment object, or a list of them (the holder's is used)."""
    data = read_json(path, "appointment")
    if isinstance(data, dict):
        return data
    if isinstance(data, list) and all(isinstance(a, dict) for a in data):
        return next((a for a in data if a.get("subject") == subject), None)
    raise click.UsageError(f"appointment {path}: expected an object or a list of objects")


def _parse_at(value: str | None) -> dt.datetime:
    if value is None:
        return utc_now()
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.UsageError(f"--at: not an ISO 8601 time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _code_from_image(path: Path) -> str | None:
    from agent.decode import decode_image_file  # imported here: OpenCV/zxing load only for --image

    codes = decode_image_file(path)
    return codes[0] if codes else None


@click.command()
@click.option("--bundle", "bundle_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Signed rule bundle.")
@click.option("--trust", "trust_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Signed trust list.")
@click.option("--root-pub", type=click.Path(dir_okay=False, path_type=Path), help=f"Hub root public key (default: {ROOT_PUB_FILENAME} beside the trust list).")
@click.option("--code", help="The code's text (HP1:... or HC1:...).")
@click.option("--image", "image_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="A PNG/JPEG holding the QR code.")
@click.option("--celsius", type=float, help="The temperature reading.")
@click.option("--remeasure", type=float, help="The second reading, after a rest.")
@click.option("--mask", type=click.Choice(["yes", "no"]), help="Is a mask worn? (unset: not observed)")
@click.option("--at", "at_text", help="Decide as of this ISO 8601 time (default: now).")
@click.option("--roster", "roster_path", type=click.Path(dir_okay=False, path_type=Path), help="Roster JSON.")
@click.option("--appointment", "appointment_path", type=click.Path(dir_okay=False, path_type=Path), help="Appointment JSON.")
@click.option("--schedule", "schedule_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The venue's signed schedule (bookings, meal groups, shifts); bookings are looked up by "
                   f"the keyed hash of the subject, with the venue's key from ${SUBJECT_KEY_ENV}.")
@click.option("--zone", help="The gate's zone of the venue (canteen meal groups eat in their zones).")
@click.option("--venue-mode", type=click.Choice(["open", "closed"]), help="Override the bundle's mode.")
@click.option("--plausible-min-c", type=float, default=DEFAULT_LIMITS.plausible_min_c, show_default=True,
              help="A reading below this is no person: measure again (the gate's [measure.limits] plausible_min_c).")
@click.option("--plausible-max-c", type=float, default=DEFAULT_LIMITS.plausible_max_c, show_default=True,
              help="A reading above this is no person: measure again ([measure.limits] plausible_max_c).")
@click.option("--remeasure-below-c", type=float, default=DEFAULT_LIMITS.remeasure_below_c, show_default=True,
              help="A reading below this is measured again, never admitted ([measure.limits] remeasure_below_c).")
@click.option("--max-bundle-age-hours", type=float, default=DEFAULT_MAX_AGE.total_seconds() / 3600, show_default=True,
              help="Refuse a bundle issued longer ago than this.")
def decide(
    bundle_path: Path,
    trust_path: Path,
    root_pub: Path | None,
    code: str | None,
    image_path: Path | None,
    celsius: float | None,
    remeasure: float | None,
    mask: str | None,
    at_text: str | None,
    roster_path: Path | None,
    appointment_path: Path | None,
    schedule_path: Path | None,
    zone: str | None,
    venue_mode: str | None,
    plausible_min_c: float,
    plausible_max_c: float,
    remeasure_below_c: float,
    max_bundle_age_hours: float,
) -> None:
    """Verify a code and decide admit, deny or refer under a signed bundle; print one JSON object.

    Decides as a gate whose venue state is empty (nobody inside yet, for anti-passback). A reading the
    gate would not decide on (protocols/readings.py) prints decision "remeasure", as the gate asks for one.

    Example: checkpoint decide --bundle bundle.json --trust keys/trust-list.json --code "HP1:..." --celsius 36.6 --mask yes
    """
    if (code is None) == (image_path is None):
        raise click.UsageError("give exactly one of --code or --image")
    at = _parse_at(at_text)
    try:
        limits = ReadingLimits(plausible_min_c=plausible_min_c, plausible_max_c=plausible_max_c,
                               remeasure_below_c=remeasure_below_c)
    except ValidationError as exc:
        raise click.UsageError(f"--plausible-min-c/--plausible-max-c/--remeasure-below-c: {exc.errors()[0]['msg']}") from exc
    try:
        anchor = load_public_key(root_pub or trust_path.parent / ROOT_PUB_FILENAME)
        trust = TrustList.load(trust_path, anchor)
        bundle = verify_bundle(read_json(bundle_path, DocumentKind.BUNDLE), anchor, at, dt.timedelta(hours=max_bundle_age_hours))
    except (ConfigError, TrustListError, BundleError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        schedule = verify_schedule(read_json(schedule_path, DocumentKind.SCHEDULE), anchor) if schedule_path else None
        key = subject_key_from_env(os.environ) if schedule is not None else None
    except (ConfigError, ScheduleError) as exc:
        raise click.ClickException(f"schedule {schedule_path}: {exc}") from exc
    roster = read_roster(roster_path) if roster_path else None
    started = time.perf_counter()
    text = code if code is not None else _code_from_image(image_path)  # type: ignore[arg-type]
    verification = verify_code(text, trust, at) if text is not None else None
    credential = verification.credential if verification is not None and verification.ok else None
    reason = "unreadable" if verification is None else verification.reason
    appointment = None
    if appointment_path is not None:
        appointment = read_appointment(appointment_path, credential.subject if credential else None)
    # The gate's own check, before any rule: a reading it would not decide on asks for another.
    why = next((w for w in (remeasure_reason(c, limits) for c in (celsius, remeasure) if c is not None) if w), None)
    if why is not None:
        report = {"decision": "remeasure", "reasons": [local_reason(why, "OPEN").model_dump()],
                  "bundle_version": bundle.version, "flags": []}
        click.echo(json.dumps({**report, "ms": round((time.perf_counter() - started) * 1000, 3)}, ensure_ascii=False))
        return
    ctx = GateContext(
        at=at,
        celsius=celsius,
        remeasure=remeasure,
        mask=None if mask is None else mask == "yes",
        roster=roster,
        appointment=appointment,
        venue_mode=venue_mode,
        inside=False,
        code_reason=reason,
        schedule=schedule,
        # The schedule names bookings by the venue's keyed hash, as the gate's store does.
        holder=subject_hash(key, credential.subject) if key is not None and credential is not None else None,
        zone=zone,
    )
    result = evaluate(bundle, credential, ctx)
    elapsed_ms = (time.perf_counter() - started) * 1000
    click.echo(json.dumps({**result.report(), "ms": round(elapsed_ms, 3)}, ensure_ascii=False))
