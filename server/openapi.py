"""Builds the OpenAPI 3.1 document of the hub's API from the pydantic bodies (the device contract's
and the hub's own), and the JSON Schema of each MQTT payload.

`checkpoint hub openapi --out protocols/openapi.json --schemas protocols/schemas` writes them; a
test fails when the checked-in files and this builder disagree. Nothing writes them at import.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic.json_schema import models_json_schema

from protocols import contract
from protocols.contract import API_PREFIX, DOCUMENT_KINDS
from server import bodies
from server.alerts import KINDS as alert_kinds

VERSION = "1.0.0"
MODELS = [contract.EnrollRequest, contract.EnrollResponse, contract.SyncRequest, contract.SyncResponse,
          contract.PresenceChange, contract.LeaseRequest, contract.LeaseResponse, bodies.VenueCreate,
          bodies.VenueSettings, bodies.GateCreate, bodies.ReservationRequest, bodies.Reservation, bodies.Occupancy,
          bodies.DocumentInfo, bodies.RosterImportResult, bodies.TokenResponse, bodies.GateLease, bodies.ScheduleGroup,
          bodies.GateZone, bodies.Alert, bodies.AlertAck, bodies.AlertSettings, bodies.AlertSettingsShown, bodies.ManualStatus,
          bodies.FeedResult]
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["reason", "message"],
    "properties": {"reason": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "array"}}}}}
ID_PARAM = {"type": "string", "pattern": bodies.ID[1:-1].join("^$")}


def _template(route: str) -> str:
    """A contract route as an OpenAPI path template: /device/documents/<kind> -> /api/v1/device/documents/{kind}."""
    return re.sub(r"<(\w+)>", r"{\1}", contract.path(route))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "bad query, or a compressed body that does not decode", 401: "no or bad credential",
            403: "not allowed", 404: "not found", 409: "conflict",
            413: "more events than a batch takes, or the body, inflated, larger than the hub takes",
            415: "not JSON, or an unknown Content-Encoding", 422: "invalid body or refused by policy",
            503: "the hub is busy (its bound of syncs in flight): try again after the Retry-After header's seconds"}
    out = {str(c): _json(_ref("Error"), text[c]) for c in codes}
    if "503" in out:
        out["503"]["headers"] = {"Retry-After": {"description": "whole seconds to wait (jittered by the hub)",
                                                 "schema": {"type": "integer", "minimum": 0}}}
    return out


def _op(summary: str, responses: dict[str, Any], *, security: str | None, body: str | None = None,
        params: list[dict[str, Any]] | None = None, raw_body: bool = False, feed_body: bool = False,
        file_body: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    op["security"] = [{security: []}] if security else []
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if raw_body:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    if feed_body:
        record = {"type": "object", "additionalProperties": {"type": ["string", "null"]}}
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"oneOf": [
                {"type": "array", "items": record},
                {"type": "object", "required": ["records"], "properties": {"records": {"type": "array", "items": record}}}]}},
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}}}}
    if file_body:
        # The hub tells CSV from XLSX by the bytes, whatever the content type: an XLSX goes as octet-stream.
        binary = {"schema": {"type": "string", "format": "binary"}}
        op["requestBody"] = {"required": True, "content": {"text/csv": binary, "application/octet-stream": binary}}
    if params:
        op["parameters"] = params
    return op


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or ID_PARAM}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _link(path: str, method: str, description: str, parameters: dict[str, str] | None = None,
          body: dict[str, str] | None = None) -> dict[str, Any]:
    """An OpenAPI link to the operation at path and method (schemathesis follows these when testing statefully)."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    link: dict[str, Any] = {"operationRef": f"#/paths/{pointer}/{method}", "description": description}
    if parameters:
        link["parameters"] = parameters
    if body:
        link["requestBody"] = body
    return link


def _links() -> dict[tuple[str, str, str], dict[str, Any]]:
    """The links that are true of the hub: (path, method, status) -> {name: link}."""
    one = API_PREFIX + "/venues/{venue_id}"
    new_venue = {"venue_id": "$response.body#/id"}
    same_venue = {"venue_id": "$request.path.venue_id"}
    return {
        (API_PREFIX + "/venues", "post", "201"): {
            "GetVenue": _link(one, "get", "the venue just created", new_venue),
            "PatchVenue": _link(one, "patch", "change the venue just created", new_venue),
            "Occupancy": _link(one + "/occupancy", "get", "its occupancy", new_venue),
            "ListGates": _link(one + "/gates", "get", "its gates", new_venue),
            "AddGate": _link(one + "/gates", "post", "add a gate to it", new_venue),
            "Reserve": _link(one + "/reservations", "post", "book a slot at it", new_venue),
            "Slots": _link(one + "/reservations", "get", "its bookings", new_venue),
            "Devices": _link(one + "/devices", "get", "its devices", new_venue),
            "Documents": _link(one + "/documents", "get", "its documents", new_venue),
            "PutDocument": _link(one + "/documents/{kind}", "put", "publish a document for it", new_venue)},
        (one + "/gates", "post", "201"): {
            "EnrollToken": _link(one + "/gates/{gate_id}/enroll-token", "post", "a token for the gate just added",
                                 {**same_venue, "gate_id": "$response.body#/id"})},
        (one + "/gates/{gate_id}/enroll-token", "post", "201"): {
            "Enroll": _link(_template(contract.ENROLL), "post", "spend the token just made",
                            body={"token": "$response.body#/token"})},
    }


def build() -> dict[str, Any]:
    """The whole document."""
    _, defs = models_json_schema([(m, "validation") for m in MODELS], ref_template="#/components/schemas/{model}")
    schemas = defs["$defs"]
    schemas["Error"] = ERROR
    venue, gate = _path("venue_id"), _path("gate_id")
    kind = _path("kind", {"type": "string", "enum": list(DOCUMENT_KINDS)})
    obj = {"type": "object"}
    time_q = {"type": "string", "format": "date-time"}
    paths = {
        _template(contract.ENROLL): {"post": _op("Spend a one-time enrollment token", {
            "201": _json(_ref("EnrollResponse"), "the device's credential, shown once"), **_errors(403, 415, 422)},
            security=None, body="EnrollRequest")},
        _template(contract.DEVICE_SYNC): {"post": _op(
            "Send a batch of events (idempotent by id); get the venue's presence changes at other gates", {
            "200": _json(_ref("SyncResponse")), **_errors(400, 401, 403, 413, 415, 422, 503)}, security="device",
            body="SyncRequest")},
        _template(contract.DEVICE_LEASE): {"post": _op("Renew or return the gate's quota lease", {
            "200": _json(_ref("LeaseResponse")), **_errors(401, 415, 422)}, security="device", body="LeaseRequest")},
        _template(contract.DEVICE_DOCUMENT): {"get": _op("Fetch the current version of a document (ETag)", {
            "200": {"description": "the document's bytes", "headers": {
                "ETag": {"schema": {"type": "string"}}, "X-Document-Version": {"schema": {"type": "string"}}},
                "content": {"application/json": {"schema": obj},
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
            "304": {"description": "unchanged"}, **_errors(401, 404)}, security="device", params=[kind])},
        API_PREFIX + "/venues": {
            "get": _op("List venues", {"200": _json({"type": "array", "items": obj}), **_errors(401, 403)},
                       security="person"),
            "post": _op("Create a venue", {"201": _json(obj), **_errors(401, 403, 409, 415, 422)},
                        security="person", body="VenueCreate")},
        API_PREFIX + "/venues/{venue_id}": {
            "get": _op("A venue's settings", {"200": _json(obj), **_errors(401, 403, 404)}, security="person",
                       params=[venue]),
            "patch": _op("Change a venue's settings", {"200": _json(obj), **_errors(401, 403, 404, 415, 422)},
                         security="person", body="VenueSettings", params=[venue])},
        API_PREFIX + "/venues/{venue_id}/occupancy": {"get": _op("How many are inside; cap, leased, free", {
            "200": _json(_ref("Occupancy")), **_errors(401, 403, 404)}, security="person", params=[venue])},
        API_PREFIX + "/venues/{venue_id}/gates": {
            "get": _op("A venue's gates: running versions, last seen, lease", {
                "200": _json({"type": "array", "items": obj}), **_errors(401, 403, 404)}, security="person",
                params=[venue]),
            "post": _op("Add a gate", {"201": _json(obj), **_errors(401, 403, 404, 415, 422)}, security="person",
                        body="GateCreate", params=[venue])},
        API_PREFIX + "/venues/{venue_id}/gates/{gate_id}/enroll-token": {"post": _op("A one-time enrollment token", {
            "201": _json(_ref("TokenResponse")), **_errors(401, 403, 404)}, security="person", params=[venue, gate])},
        API_PREFIX + "/venues/{venue_id}/leases": {"get": _op("Places lent per gate, last contact, reclaimable now", {
            "200": _json({"type": "array", "items": _ref("GateLease")}), **_errors(401, 403, 404)}, security="person",
            params=[venue])},
        API_PREFIX + "/venues/{venue_id}/gates/{gate_id}/lease/reclaim": {"post": _op(
            "Reclaim the places of a gate silent longer than the venue's lease_reclaim_after_s (audited; the venue "
            "may exceed its cap by up to that many)", {
                "200": _json(_ref("GateLease")), **_errors(401, 403, 404, 409)}, security="person",
            params=[venue, gate])},
        API_PREFIX + "/venues/{venue_id}/devices": {"get": _op("A venue's enrolled devices", {
            "200": _json({"type": "array", "items": obj}), **_errors(401, 403, 404)}, security="person",
            params=[venue])},
        API_PREFIX + "/venues/{venue_id}/devices/{device_id}": {"delete": _op("Revoke a device's credential", {
            "204": {"description": "revoked"}, **_errors(401, 403, 404)}, security="person",
            params=[venue, _path("device_id", {"type": "string", "maxLength": 64})])},
        API_PREFIX + "/venues/{venue_id}/reservations": {
            "get": _op("Bookings per slot", {"200": _json({"type": "array", "items": obj}), **_errors(401, 403, 404)},
                       security="person", params=[venue]),
            "post": _op("Book a staggered time slot", {"201": _json(_ref("Reservation")),
                                                       **_errors(401, 403, 404, 409, 415, 422)},
                        security="person", body="ReservationRequest", params=[venue])},
        API_PREFIX + "/venues/{venue_id}/schedule": {"get": _op(
            "A venue's groups with time windows (meal slots and zones, shifts) and its schedule's version", {
                "200": _json(obj), **_errors(401, 403, 404)}, security="person", params=[venue])},
        API_PREFIX + "/venues/{venue_id}/schedule/groups/{name}": {
            "put": _op("Set a roster group's time windows; publishes a new signed schedule (409 without the hub's "
                       "schedule key)", {"200": _json(obj), **_errors(401, 403, 404, 409, 415, 422)},
                       security="person", body="ScheduleGroup", params=[venue, _path("name")]),
            "delete": _op("Remove a group's time windows; publishes a new signed schedule", {
                "204": {"description": "removed"}, **_errors(401, 403, 404, 409)}, security="person",
                params=[venue, _path("name")])},
        API_PREFIX + "/venues/{venue_id}/schedule/gates/{gate_id}": {
            "put": _op("Set the canteen zone a gate stands in (null: none); publishes a new signed schedule (409 "
                       "without the hub's schedule key)", {"200": _json(obj), **_errors(401, 403, 404, 409, 415, 422)},
                       security="person", body="GateZone", params=[venue, _path("gate_id")])},
        API_PREFIX + "/venues/{venue_id}/documents": {"get": _op("Current document versions", {
            "200": _json({"type": "object", "additionalProperties": {"type": "string"}}), **_errors(401, 403, 404)},
            security="person", params=[venue])},
        API_PREFIX + "/venues/{venue_id}/documents/{kind}": {"put": _op("Publish a new version of a document", {
            "201": _json(_ref("DocumentInfo")), **_errors(401, 403, 404, 422)}, security="person",
            params=[venue, kind], raw_body=True)},
        API_PREFIX + "/venues/{venue_id}/roster": {"post": _op(
            "Import the venue's roster from the CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX file in the body (admin; "
            "audited): all rows or none, by resident ID; 422 lists each row's error", {
                "200": _json(_ref("RosterImportResult"), "a dry run: what the import would do, nothing stored"),
                "201": _json(_ref("RosterImportResult"), "imported: added, changed and removed people"),
                **_errors(401, 403, 404, 413, 422)}, security="person", params=[
                venue, _query("dry_run", {"type": "string", "enum": ["0", "1"]}, "1: check and count only"),
                _query("filename", {"type": "string", "maxLength": 200}, "the file's name (for messages)")],
            file_body=True)},
        API_PREFIX + "/venues/{venue_id}/alerts": {"get": _op(
            "A venue's alerts, newest first: red code, fever (with its 2-hour report deadline), cap reached, gate "
            "offline, thermometer drift, document expiry", {
                "200": _json({"type": "array", "items": _ref("Alert")}), **_errors(400, 401, 403, 404)},
            security="person", params=[
                venue, _query("state", {"type": "string", "enum": ["open", "acked"]}, "open or acknowledged"),
                _query("kind", {"type": "string", "enum": list(alert_kinds)}, "one kind of alert"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "most rows (200)")])},
        API_PREFIX + "/venues/{venue_id}/alerts/{alert_id}/ack": {"post": _op(
            "Acknowledge an alert with a note (supervisor; audited)", {
                "200": _json(_ref("Alert")), **_errors(401, 403, 404, 409, 415, 422)}, security="person",
            body="AlertAck", params=[venue, _path("alert_id", {"type": "string", "maxLength": 26})])},
        API_PREFIX + "/venues/{venue_id}/alert-settings": {
            "get": _op("Where the venue's alerts go: webhook and mail", {
                "200": _json(_ref("AlertSettingsShown")), **_errors(401, 403, 404)}, security="person",
                params=[venue]),
            "put": _op("Set the venue's webhook (generic, wecom, dingtalk) and mail recipients (admin; audited)", {
                "200": _json(_ref("AlertSettingsShown")), **_errors(401, 403, 404, 415, 422)}, security="person",
                body="AlertSettings", params=[venue])},
        API_PREFIX + "/venues/{venue_id}/status/{source}": {"post": _op(
            "A status feed for the venue's enrolled people, all rows or none (supervisor; audited): authority "
            "(id, colour green/yellow/red, since) or lab (id, sampled_at, result negative/positive), a JSON list or a "
            "CSV (UTF-8, UTF-8 with BOM, GBK) or XLSX body; rows whose ID is not enrolled are reported; a bad row "
            "refuses the feed with one detail per row", {
                "200": _json(_ref("FeedResult")), **_errors(401, 403, 404, 413, 415, 422)}, security="person",
            params=[venue, _path("source", {"type": "string", "enum": ["authority", "lab"]})], feed_body=True)},
        API_PREFIX + "/venues/{venue_id}/status/manual": {"post": _op(
            "A supervisor's entry of one person's colour or nucleic-acid result with the reason (audited)", {
                "201": _json(_ref("FeedResult")), **_errors(401, 403, 404, 415, 422)}, security="person",
            body="ManualStatus", params=[venue])},
        API_PREFIX + "/events": {"get": _op("The access log, newest first (JSON or CSV)", {
            "200": {"description": "events", "content": {"application/json": {"schema": {"type": "array", "items": obj}},
                                                         "text/csv": {"schema": {"type": "string"}}}},
            **_errors(400, 401, 403)}, security="person", params=[
            _query("venue", {"type": "string"}, "venue id"), _query("gate", {"type": "string"}, "gate id"),
            _query("since", time_q, "from this time (inclusive)"), _query("until", time_q, "to this time (exclusive)"),
            _query("decision", {"type": "string", "enum": ["admit", "deny", "refer"]}, "decision"),
            _query("rule", {"type": "string"}, "a rule id that failed"),
            _query("limit", {"type": "integer", "minimum": 0, "maximum": 100000}, "most rows"),
            _query("offset", {"type": "integer", "minimum": 0}, "rows to skip (old links: `before` costs its own rows)"),
            _query("before", {"type": "string"}, "keyset page: rows older than this AT,ID (the last row's at and id)"),
            _query("format", {"type": "string", "enum": ["json", "csv"]}, "json (default) or csv")])},
        "/openapi.json": {"get": _op("This document", {"200": _json(obj)}, security=None)},
        "/healthz": {"get": _op("Alive", {"200": _json(obj)}, security=None)},
    }
    for (path, method, status), links in _links().items():
        paths[path][method]["responses"][status]["links"] = links
    return {
        "openapi": "3.1.0",
        "info": {"title": "Venue checkpoint hub · 场所核验中心", "version": VERSION,
                 "description": "Device API (bearer credential from enrollment, scoped to one gate) and people's API "
                                "(HTTP Basic with a role). Every error is {\"error\": {\"reason\", \"message\"}}."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "device": {"type": "http", "scheme": "bearer", "description": "the secret a device got at enrollment"},
            "person": {"type": "http", "scheme": "basic", "description": "a console user with a role"}}},
    }


def render() -> str:
    """The document as the text stored in protocols/openapi.json."""
    return json.dumps(build(), ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def message_schemas() -> dict[str, str]:
    """JSON Schema text of each MQTT payload, by file name under protocols/schemas/."""
    from protocols.topics import MESSAGES, AlertMessage

    out = {f"mqtt-{channel.value}.json": json.dumps(model.model_json_schema(), ensure_ascii=False, indent=1) + "\n"
           for channel, model in MESSAGES.items()}
    # The hub's venue topic (topics.venue_alerts), not a gate channel.
    out["mqtt-alerts.json"] = json.dumps(AlertMessage.model_json_schema(), ensure_ascii=False, indent=1) + "\n"
    return out

