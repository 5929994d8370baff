"""每日管控 · Daily controls: closed management, rule parameters within their ranges and the risk-area list of a
venue, set by its admin or supervisor (a user of another venue is refused), each change audited with what it
was before and after, and signed into the venue's schedule for its gates (server/controls.py); and a new rule
bundle, previewed by every online gate on its own last day of decisions before the supervisor publishes it."""

from __future__ import annotations

import decimal
import json
from typing import Any

from flask import current_app, g, redirect, render_template, request, url_for

from protocols.bundle import Bundle, bundle_from_body
from protocols.clock import utc_now
from protocols.contract import DocumentKind
from protocols.controls import CONTROL_RANGES, ControlError, apply_controls
from protocols.errors import BundleError
from protocols.topics import ReplayResult
from server.console.access import allowed_venues, audit, check_venue, login_required
from server.console.blueprint import ConsoleError, bp, venue_tz
from server.controls import current, import_risk_areas, set_controls
from server.db import get_store
from server.schedule import NoScheduleKey
from server.store import HubStore
from server.store_commands import command_state
from server.tabular_files import TableFileError

# How the form shows each parameter: the fever threshold in degrees (the bundle keeps tenths).
SCALE = {"feverDeci": 10}
AREAS_SHOWN = 500


def stored_bundle(store: HubStore, venue_id: str) -> Bundle | None:
    """The venue's published bundle, read for showing only (the gates verify its signature; the hub has no root key)."""
    row = store.document(venue_id, DocumentKind.BUNDLE)
    if row is None:
        return None
    try:
        doc = json.loads(bytes(row["body"]))
        return bundle_from_body(doc.get("body", doc) if isinstance(doc, dict) else {})
    except (ValueError, BundleError):
        return None


def _venue(venue_id: str) -> dict[str, Any]:
    check_venue(venue_id)
    venue = get_store().venue(venue_id)
    if venue is None:
        raise ConsoleError(404, "场所不存在 / No such venue")
    return venue


def _key_and_zone() -> tuple[Any, str]:
    return current_app.extensions.get("schedule_key"), current_app.config["CONSOLE_TZ"]


def _shown(name: str, value: Any) -> str:
    if value is None:
        return ""
    scale = SCALE.get(name, 1)
    return f"{value / scale:.1f}" if scale != 1 else str(value)


@bp.get("/controls")
@login_required("supervisor")
def controls_index():
    """The daily controls of the user's (first) venue."""
    venues = allowed_venues()
    if not venues:
        raise ConsoleError(404, "没有可管理的场所 / No venue to manage")
    return redirect(url_for("console.controls_page", venue_id=venues[0]["id"]))


@bp.get("/venues/<venue_id>/controls")
@login_required("supervisor")
def controls_page(venue_id: str):
    """Closed management, the parameters with their allowed ranges and values in force, the risk-area list."""
    venue = _venue(venue_id)
    store = get_store()
    controls = current(store, venue_id)
    bundle = stored_bundle(store, venue_id)
    laid = apply_controls(bundle, controls) if bundle is not None else None
    now = utc_now()
    params = [{"name": name, "range": r, "scale": SCALE.get(name, 1), "set": _shown(name, controls.params.get(name)),
               "bundle": _shown(name, bundle.ruleset.params.get(name)) if bundle is not None else "",
               "in_force": _shown(name, laid.ruleset.params.get(name)) if laid is not None else "",
               "low": _shown(name, r.low) or str(r.low), "high": _shown(name, r.high) or str(r.high)}
              for name, r in CONTROL_RANGES.items() if bundle is None or name in bundle.pack.params]
    areas = sorted(controls.risk_areas, key=lambda a: (a.start, a.region))
    return render_template(
        "console/controls.html", venue=venue, controls=controls, bundle=bundle, params=params,
        mode_in_force=laid.ruleset.params.get("mode") if laid is not None else controls.mode,
        areas=areas[:AREAS_SHOWN], areas_total=len(areas), in_force=sum(a.in_force(now) for a in areas),
        now=now, tz=venue_tz(venue), venues=allowed_venues(), has_key=_key_and_zone()[0] is not None)


def _number(name: str, raw: str) -> int:
    allowed = CONTROL_RANGES[name]
    scale = SCALE.get(name, 1)
    try:
        value = decimal.Decimal(raw) * scale
    except decimal.InvalidOperation:
        value = None
    if value is None or value != value.to_integral_value():
        raise ConsoleError(400, f"{allowed.zh} {allowed.en} ({name}): {raw[:20]!r} 不是有效数值 / is not a number"
                                f" in steps of {1 / scale:g}")
    return int(value)


@bp.post("/venues/<venue_id>/controls")
@login_required("supervisor")
def save_controls(venue_id: str):
    """Set closed management and the parameters (empty: the bundle's); out of range is refused naming the field."""
    venue = _venue(venue_id)
    mode = request.form.get("mode") or None
    if mode not in (None, "open", "closed"):
        raise ConsoleError(400, "管控模式无效 / mode must be open or closed")
    params = {}
    for name in CONTROL_RANGES:
        raw = (request.form.get(name) or "").strip()
        if raw:
            params[name] = _number(name, raw[:20])
    key, zone = _key_and_zone()
    try:
        moved = set_controls(get_store(), venue, key, zone, mode, params)
    except ControlError as exc:
        allowed = CONTROL_RANGES.get(exc.field or "")
        named = f"{allowed.zh} {allowed.en} ({exc.field})" if allowed else (exc.field or "")
        low_high = (f"{_shown(exc.field, allowed.low) or allowed.low}-{_shown(exc.field, allowed.high) or allowed.high}"
                    f" {'℃' if exc.field in SCALE else allowed.unit}") if allowed else ""
        raise ConsoleError(400, f"{named} 超出允许范围 {low_high} / outside the allowed range {low_high}: {exc}") from exc
    except NoScheduleKey as exc:
        raise ConsoleError(409, f"中心未配置签名密钥，无法下发 / {exc}") from exc
    if moved:
        audit("controls.set", "; ".join(moved), venue_id)
    return redirect(url_for("console.controls_page", venue_id=venue_id, saved=len(moved)))


@bp.post("/venues/<venue_id>/controls/risk-areas")
@login_required("supervisor")
def import_areas(venue_id: str):
    """Replace the risk-area list with an uploaded CSV or XLSX in the national list's form: all rows or none."""
    venue = _venue(venue_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ConsoleError(400, "请选择文件 / Choose a CSV or XLSX file")
    filename = upload.filename[:200]
    key, zone = _key_and_zone()
    try:
        before, after = import_risk_areas(get_store(), venue, key, zone, filename, upload.read(), venue_tz(venue))
    except TableFileError as exc:
        shown = "；".join(str(e) for e in exc.errors[:5]) + (f"（共 {len(exc.errors)} 处 / {len(exc.errors)} in all）"
                                                            if len(exc.errors) > 5 else "")
        raise ConsoleError(400, f"导入失败，未做任何更改 / Nothing imported: {shown}") from exc
    except NoScheduleKey as exc:
        raise ConsoleError(409, f"中心未配置签名密钥，无法下发 / {exc}") from exc
    audit("controls.risk_areas", f"{filename}: {before}→{after} areas", venue_id)
    return redirect(url_for("console.controls_page", venue_id=venue_id, imported=after))


# ---- a new rule bundle, previewed on the gates' own last day, then published --------------------------------

MAX_BUNDLE = 2 * 1024 * 1024


def _candidate(data: bytes) -> tuple[dict[str, Any], Bundle]:
    """An uploaded signed bundle document and its bundle (shape only: the gates check the root signature)."""
    try:
        doc = json.loads(data)
        if not (isinstance(doc, dict) and isinstance(doc.get("body"), dict) and "signature" in doc):
            raise BundleError("not a signed document {\"body\", \"signature\"}: sign it with `checkpoint rules bundle --key`")
        return doc, bundle_from_body(doc["body"])
    except ValueError as exc:
        raise ConsoleError(400, f"不是 JSON 文件 / not a JSON file: {exc}") from exc
    except BundleError as exc:
        raise ConsoleError(400, f"不是有效的已签名规则包 / not a valid signed rule bundle: {exc}") from exc


@bp.post("/venues/<venue_id>/controls/bundle")
@login_required("supervisor")
def preview_bundle(venue_id: str):
    """Take a candidate signed bundle and ask every online gate to replay its last day against it (audited)."""
    _venue(venue_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ConsoleError(400, "请选择规则包文件 / Choose a signed bundle file")
    data = upload.read(MAX_BUNDLE + 1)
    if len(data) > MAX_BUNDLE:
        raise ConsoleError(400, f"文件过大 / the file is larger than {MAX_BUNDLE // 1024 // 1024} MiB")
    doc, bundle = _candidate(data)
    store = get_store()
    online = [gate["id"] for gate in store.gates(venue_id) if gate["status"] == "online"]
    body = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")
    preview_id = store.create_preview(venue_id, bundle.version, body, g.console_user["username"], online)
    audit("bundle.preview", f"{bundle.version} {preview_id} on {len(online)} gates", venue_id)
    return redirect(url_for("console.preview_page", venue_id=venue_id, preview_id=preview_id))


def _preview(venue_id: str, preview_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    _venue(venue_id)
    store = get_store()
    preview = store.preview(preview_id)
    if preview is None or preview["venue"] != venue_id:
        raise ConsoleError(404, "没有这次预演 / No such preview")
    now = utc_now()
    replies = []
    for row in store.preview_replies(preview_id):
        state = command_state(row, now)
        result = None
        if state == "ok":
            try:
                result = ReplayResult.model_validate_json(row["detail"] or "")
            except ValueError:
                state = "refused"
        replies.append({**row, "state": state, "result": result})
    return preview, replies


@bp.get("/venues/<venue_id>/previews/<preview_id>")
@login_required("supervisor")
def preview_page(venue_id: str, preview_id: str):
    """Each gate's replay of its last day against the candidate: counts, and the changed decisions as a table."""
    preview, replies = _preview(venue_id, preview_id)
    store = get_store()
    asked = {r["gate"] for r in replies}
    offline = [gate["id"] for gate in store.gates(venue_id) if gate["id"] not in asked]
    current_bundle = stored_bundle(store, venue_id)
    changes = sorted(((r["gate"], c) for r in replies if r["result"] for c in r["result"].changes),
                     key=lambda item: item[1].at)
    return render_template(
        "console/preview.html", venue=get_store().venue(venue_id), preview=preview, replies=replies,
        offline=offline, changes=changes, current=current_bundle, tz=venue_tz(venue_id),
        waiting=any(r["state"] == "waiting" for r in replies),
        total={k: sum(getattr(r["result"], k) for r in replies if r["result"]) for k in ("replayed", "changed", "skipped")})


@bp.post("/venues/<venue_id>/previews/<preview_id>/publish")
@login_required("supervisor")
def publish_preview(venue_id: str, preview_id: str):
    """The supervisor confirms: the candidate becomes the venue's bundle (audited with the replay's figures)."""
    preview, replies = _preview(venue_id, preview_id)
    if any(r["state"] == "waiting" for r in replies):
        raise ConsoleError(409, "仍在等待闸机回复，请稍候 / Still waiting for the gates' replays")
    store = get_store()
    before = stored_bundle(store, venue_id)
    if not store.mark_preview_published(preview_id, g.console_user["username"]):
        raise ConsoleError(409, "该规则包已发布 / This preview was already published")
    published = store.put_document(venue_id, DocumentKind.BUNDLE, bytes(preview["body"]), "application/json")
    figures = {k: sum(getattr(r["result"], k) for r in replies if r["result"]) for k in ("replayed", "changed")}
    answered = sum(1 for r in replies if r["result"])
    audit("bundle.publish", f"{before.version if before else '-'}→{preview['version']} v{published['version']}; "
                            f"{answered}/{len(replies)} gates replayed {figures['replayed']}, changed {figures['changed']}",
          venue_id)
    return redirect(url_for("console.preview_page", venue_id=venue_id, preview_id=preview_id))
