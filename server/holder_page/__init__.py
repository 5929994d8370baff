"""The holder's page "我的通行码" at `/h/<secret>`: the pass as a QR that refreshes before it expires.

The link's secret is the only key: it opens that one person's page and nothing else (only its SHA-256 is
stored, server/store_holders.py). Unknown, revoked and out-of-window links all answer the same 404, and
404s are rate-limited per source (Flask-Limiter, counts in the hub database) so secrets cannot be guessed
by enumeration; a venue's many phones behind one address never 404, so they are never limited. Every
answer forbids caching and referrers (the secret is in the URL) and carries a CSP allowing the hub only.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import zxingcpp
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request

from protocols.clock import utc_now, utc_seconds
from protocols.credential import Goods
from server.db import get_store
from server.holders import link_status
from server.issuing import IssueRefused, IssuerKeys, default_key_folder, issue, IssuePolicy
from server.reports import venue_zone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

bp = Blueprint("holder", __name__, url_prefix="/h", template_folder="templates", static_folder="static")
MISSES = "20 per minute"  # 404s from one source address: a holder with a real link never meets one
SECRET_MAX = 128
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
GONE = "链接无效或已撤销 / This link is not valid or has been revoked"


class GoodsDeclaration(BaseModel):
    """What a courier's page posts: the goods the next passes carry (an empty list clears them)."""

    model_config = ConfigDict(extra="forbid")
    goods: list[Goods] = Field(max_length=16)


def init_app(app: Flask) -> None:
    """Register the page; the issuer keys from ISSUER_KEYS (config) or the default folder."""
    folder = app.config.get("ISSUER_KEYS") or default_key_folder(str(app.config["DATABASE"]))
    app.extensions["issuer_keys"] = IssuerKeys(folder)
    app.register_blueprint(bp)
    limiter = app.extensions["checkpoint_limiter"]
    # One count per source over every holder route: guessing on the page or the JSON endpoint adds up.
    limiter.shared_limit(MISSES, scope="holder-misses", deduct_when=lambda response: response.status_code == 404,
                         error_message="请求过多，请稍后再试 / Too many requests: try again later")(bp)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def qr_data_uri(text: str) -> str:
    """The pass as a QR code (error level M, quiet zone kept), an SVG data URI the page shows as an image."""
    # zxing-cpp's encoder (C++, it picks the mask by the standard's penalty rules): ~1 ms a pass where segno, in pure
    # Python, spent 20-40 ms choosing the mask, most of what a holder's refresh cost (docs/benchmarks.md, Holders).
    svg = zxingcpp.write_barcode_to_svg(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M"))
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _link(secret: str) -> dict[str, Any]:
    """The live link this secret opens, inside its window, else 404 (the same answer for every miss)."""
    if not 16 <= len(secret) <= SECRET_MAX:
        abort(404, GONE)
    link = get_store().holder_link(secret)
    now = utc_now()
    if link is None or (link["valid_until"] and link["valid_until"] <= utc_seconds(now)):
        abort(404, GONE)
    return link


@bp.get("/<secret>")
def page(secret: str):
    """The holder's page (HTML; the pass itself comes from the JSON endpoint)."""
    link = _link(secret)
    venue = get_store().venue(link["venue"]) or {}
    status = link_status(get_store(), link)
    zone = venue_zone(venue, current_app.config.get("CONSOLE_TZ", "Asia/Shanghai"))
    today = utc_now().astimezone(zone).date()
    declared_at = status.declared_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if status and status.declared_at else None
    return render_template("holder/page.html", secret=secret, venue_name=venue.get("name") or link["venue"],
                           name=status.name if status else "", zone=zone.key,
                           courier=bool(status and status.person_class == "courier"),
                           enrolled=status is not None, stays=travel.shown_stays(status), declared_at=declared_at,
                           today=today.isoformat(), earliest=(today - dt.timedelta(days=travel.LOOKBACK_DAYS)).isoformat())


@bp.get("/<secret>/pass")
def pass_json(secret: str):
    """A freshly minted pass (code, QR as an SVG data URI, expiry), or why none is issued (zh + en)."""
    link = _link(secret)
    store = get_store()
    now = utc_now().replace(microsecond=0)
    body: dict[str, Any] = {"server_time": utc_seconds(now)}
    status = link_status(store, link)
    try:
        if status is None:
            raise IssueRefused("no_status", "暂无登记信息，请联系场所管理员 / You are not on the venue's roster: ask its office")
        venue = store.venue(link["venue"]) or {"id": link["venue"]}
        keys: IssuerKeys = current_app.extensions["issuer_keys"]
        code, claims = issue(status, IssuePolicy.for_venue(venue), keys.key(link["venue"]), now)
    except IssueRefused as refused:
        return jsonify({**body, "ok": False, "reason": refused.reason, "message": refused.message})
    left = int((claims.expires_at - now).total_seconds())
    body.update(ok=True, code=code, qr_svg=qr_data_uri(code),
                colour=claims.colour, name=claims.name, person_class=claims.person_class,
                issued_at=utc_seconds(claims.issued_at), expires_at=utc_seconds(claims.expires_at),
                # Refresh a minute apart, and always well before this pass expires.
                refresh_in=max(5, min(60, left - 30)))
    return jsonify(body)


@bp.post("/<secret>/goods")
def declare_goods(secret: str):
    """A courier declares the goods the next passes carry; anyone else is refused."""
    link = _link(secret)
    status = link_status(get_store(), link)
    if status is None or status.person_class != "courier":
        return jsonify({"ok": False, "reason": "not_a_courier",
                        "message": "只有快递/送货人员可申报货物 / Only couriers declare goods"}), 403
    if not request.is_json:
        return jsonify({"ok": False, "reason": "unsupported_media_type",
                        "message": "请求须为 JSON / the body must be application/json"}), 415
    try:
        body = GoodsDeclaration.model_validate_json(request.get_data(cache=False))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return jsonify({"ok": False, "reason": "bad_goods",
                        "message": f"货物信息有误（{where}）/ Check the goods ({where}): {first['msg']}"}), 422
    lines = [g.model_dump() for g in body.goods]
    missing = [g.batch for g in body.goods if g.cold_chain and not g.report]
    get_store().declare_goods(link["venue"], link["subject"], status.name, lines)
    message = "已申报，新的通行码将携带货物信息 / Declared: your next pass carries the goods"
    if missing:
        # Recorded as declared (the trace keeps it); the gate refuses cold-chain goods without a report.
        message += "；冷链货物缺少检测报告，门岗将拒绝 / cold-chain goods lack a test report: the gate will refuse them"
    return jsonify({"ok": True, "message": message, "declared": len(lines)})


# The travel declaration's routes join this blueprint (imported last: they use `bp` and `_link`).
from server.holder_page import travel  # noqa: E402
