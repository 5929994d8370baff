"""A venue's roster from an uploaded CSV or XLSX (people's API; server/roster_import.py): all rows or none."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from protocols.contract import API_PREFIX
from server.auth import role_required
from server.db import get_store
from server.http_errors import ApiError, error_body
from server.roster_import import import_roster
from server.tabular_files import MAX_BYTES, TableError

bp = Blueprint("roster", __name__, url_prefix=f"{API_PREFIX}/venues/<venue_id>/roster")


@bp.post("")
@role_required("admin")
def upload(venue_id: str):
    """Import the file in the body (CSV or XLSX; ?dry_run=1 stores nothing); 422 with every row's error."""
    if get_store().venue(venue_id) is None:
        raise ApiError(404, "no_such_venue", "场所不存在 / no such venue")
    if (request.content_length or 0) > MAX_BYTES:  # refused before the body is read
        raise ApiError(413, "too_large", str(TableError(None, None, f"文件过大，上限为 {MAX_BYTES >> 20} MB",
                                                        f"the file is too large; the limit is {MAX_BYTES >> 20} MB")))
    dry_run = request.args.get("dry_run", "0") in ("1", "true", "yes")
    filename = request.args.get("filename", "roster")
    result = import_roster(get_store(), venue_id, request.get_data(cache=False), filename, by_user=g.user, dry_run=dry_run)
    if not result.ok:
        body = error_body("bad_roster", f"名单有误，未导入任何人员 / the roster has errors; nothing was imported "
                                        f"({len(result.errors)})", [e.to_json() for e in result.errors])
        return jsonify(body), 422
    return jsonify(result.to_json()), (200 if dry_run else 201)
