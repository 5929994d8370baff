"""The OpenAPI document matches its builder, is served, and schemathesis finds no server error against it."""

from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from server.app import create_app
from server.blueprints.meta import openapi_text
from server.openapi import message_schemas, render
from server.store import HubStore

ADMIN = "Basic " + base64.b64encode(b"admin:pw").decode()


def test_the_stored_document_is_what_the_builder_makes() -> None:
    assert openapi_text() == render(), "run: checkpoint hub openapi --out protocols/openapi.json"


def _app(tmp: Path):
    db = tmp / "hub.db"
    app = create_app({"DATABASE": str(db)})
    store = HubStore(db)
    store.create_user("admin", "pw", "admin")
    store.create_venue("acme", {"cap": 10, "slot_minutes": 30, "slot_capacity": 2})
    store.create_gate("acme", "g0")
    _, secret = store.redeem_token(store.create_enroll_token("acme", "g0"))
    store.put_document("acme", "bundle", b'{"body": {}}', "application/json")
    return app, secret


def test_the_hub_serves_its_document(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    got = app.test_client().get("/openapi.json")
    assert got.status_code == 200 and json.loads(got.data)["paths"]["/api/v1/device/sync"]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """One hub app and its device secret for every fuzzed case (built when the tests run, not at import)."""
    return _app(tmp_path_factory.mktemp("hub-openapi"))


# The document the hub serves at /openapi.json; the app it is fuzzed against is built when the tests run.
schema = schemathesis.openapi.from_dict(json.loads(openapi_text()))


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case, fuzzed) -> None:
    # The real credentials, so the fuzzing reaches past authentication.
    auth = f"Bearer {fuzzed[1]}" if case.path.startswith("/api/v1/device") else ADMIN
    case.call_and_validate(app=fuzzed[0], headers={"Authorization": auth}, checks=[not_a_server_error])


@pytest.mark.parametrize("path", ["/api/v1/device/sync", "/api/v1/venues"])
def test_no_credential_is_refused_not_crashed(path: str, fuzzed) -> None:
    got = fuzzed[0].test_client().post(path, json={})
    assert got.status_code == 401 and got.get_json()["error"]["reason"] == "unauthorized"


def test_the_stored_message_schemas_are_what_the_builder_makes() -> None:
    schemas = resources.files("protocols").joinpath("schemas")
    for name, text in message_schemas().items():
        assert schemas.joinpath(name).read_text(encoding="utf-8") == text, \
            "run: checkpoint hub openapi --schemas protocols/schemas"
