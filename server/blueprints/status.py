"""A venue's status feeds (issue 10): the health authority's colours and a lab's results (a JSON list, or a
CSV/XLSX file as the body), and a supervisor's manual entry with a reason. Each is audited by the store."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from protocols.contract import API_PREFIX
from server.blueprints.venues import _body, _venue
from server.bodies import ManualStatus
from server.auth import role_required
from server.db import get_store
from server.http_errors import ApiError
from server.id_numbers import IdNumberError
from server.reports import venue_zone
from server.status_feeds import FEEDS, import_feed, json_feed, manual_person, manual_record, read_feed
from server.tabular_files import TableFileError

bp = Blueprint("status", __name__, url_prefix=f"{API_PREFIX}/venues")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILE_TYPES = {"text/csv": "feed.csv", XLSX: "feed.xlsx", "application/octet-stream": "feed"}


def refused(exc: TableFileError) -> ApiError:
    """The 422 of a feed refused whole, with one detail per bad row (row, column, zh, en)."""
    first = exc.errors[0]
    return ApiError(422, "bad_feed", f"导入被拒绝，未保存任何记录：{len(exc.errors)} 处错误，首个为 {first} / "
                                     "the import is refused and nothing was stored", [e.to_json() for e in exc.errors])


@bp.post("/<venue_id>/status/<source>")
@role_required("supervisor")
def feed(venue_id: str, source: str):
    """Store a feed for the venue's enrolled people, all rows or none: authority (id, colour, since) or lab
    (id, sampled_at, result), as a JSON list or a CSV/XLSX body; rows of IDs not enrolled are reported."""
    if source not in FEEDS:
        raise ApiError(404, "no_such_feed", "没有这种状态来源 / unknown status source (authority, lab or manual)")
    venue = _venue(venue_id)
    try:
        if request.mimetype in FILE_TYPES:
            table = read_feed(source, request.get_data(cache=False), FILE_TYPES[request.mimetype])
        else:
            table = json_feed(source, _body())
        result = import_feed(get_store(), venue_id, source, table, by_user=g.user,
                             zone=venue_zone(venue, current_app.config.get("CONSOLE_TZ", "Asia/Shanghai")))
    except TableFileError as exc:
        raise refused(exc) from exc
    return jsonify({"source": source, "stored": result.stored, "unknown_rows": result.unknown_rows})


@bp.post("/<venue_id>/status/manual")
@role_required("supervisor")
def manual(venue_id: str):
    """A supervisor's entry of one person's colour or test result with the reason (audited with it)."""
    _venue(venue_id)
    body = ManualStatus.model_validate_json(_body())
    store = get_store()
    try:
        person = manual_person(store, venue_id, body)
    except IdNumberError as exc:
        raise ApiError(422, "bad_id_number", str(exc)) from exc
    if person is None or not store.add_person_status(venue_id, person["id"], "manual", manual_record(body), by_user=g.user):
        raise ApiError(404, "no_such_person", "此人未在该场所登记 / this person is not enrolled at this venue")
    return jsonify({"source": "manual", "stored": 1, "subject": person["subject"]}), 201
