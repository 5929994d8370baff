"""The holder's page /h/<secret>: its pass verifies at a gate, follows the status, and the link resists misuse."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from checkpoint.cli import main
from protocols.clock import utc_now, utc_text
from protocols.healthpass import verify_healthpass
from server.holder_page import CSP
from tests.holder_helpers import COURIER_ID, ID_NUMBER, VENUE, make_holders

GOODS = {"product": "冻虾仁", "supplier": "舟山水产", "origin": "浙江舟山", "quantity": "20 箱", "batch": "B-1130",
         "maker": "舟山海鲜加工厂", "cold_chain": True, "report": "LC-0042"}


@pytest.fixture
def holders(hub_factory, monkeypatch, tmp_path):
    return make_holders(hub_factory, monkeypatch, tmp_path)


def _pass(client, secret):
    answer = client.get(f"/h/{secret}/pass")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def test_the_page_and_its_pass_verify_on_the_venues_trust_list(holders):
    person = holders.enrol(ID_NUMBER)
    holders.green(ID_NUMBER)
    secret = holders.link(person)
    client = holders.hub.app.test_client()
    page = client.get(f"/h/{secret}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "我的通行码" in html and "张*明" in html and "http" not in html.split("<main")[1].split("</main>")[0]
    assert page.headers["Content-Security-Policy"] == CSP and page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    body = _pass(client, secret)
    assert body["ok"] and body["colour"] == "green" and body["name"] == "张*明"
    assert body["qr_svg"].startswith("data:image/svg+xml")
    result = verify_healthpass(body["code"], holders.trust(), utc_now(), max_age=600)
    assert result.ok, result.reason
    assert result.credential.subject == person["subject"] and result.credential.group == "装配一组"
    assert 0 < body["refresh_in"] <= 60


def test_the_next_refresh_shows_a_new_colour(holders):
    person = holders.enrol(ID_NUMBER)
    holders.green(ID_NUMBER)
    secret, client = holders.link(person), holders.hub.app.test_client()
    assert _pass(client, secret)["colour"] == "green"
    holders.colour(ID_NUMBER, "yellow")
    body = _pass(client, secret)
    assert body["colour"] == "yellow"
    assert verify_healthpass(body["code"], holders.trust(), utc_now()).credential.colour == "yellow"


def test_no_status_gives_the_holder_a_reason_and_no_code(holders):
    secret = holders.link(holders.enrol(ID_NUMBER))
    body = _pass(holders.hub.app.test_client(), secret)
    assert body["ok"] is False and body["reason"] == "no_status" and "code" not in body
    assert body["message"].startswith("暂无")


def test_stale_feeds_refuse_green_with_a_reason_the_holder_reads(holders):
    person = holders.enrol(ID_NUMBER)
    secret, client = holders.link(person), holders.hub.app.test_client()
    holders.colour(ID_NUMBER, "green")
    body = _pass(client, secret)  # green, never declared
    assert (body["ok"], body["reason"]) == (False, "no_declaration") and "申报" in body["message"]
    holders.declare(ID_NUMBER)
    assert _pass(client, secret)["ok"]
    # The declaration 25 hours old: stale by the default (POLICY.md: 24 h since it was declared).
    old = utc_text(utc_now() - dt.timedelta(hours=25))
    holders.hub.sql("UPDATE person_status SET received_at = :t WHERE source = 'declaration'", {"t": old})
    body = _pass(client, secret)
    assert (body["ok"], body["reason"]) == (False, "stale_declaration") and "24 小时" in body["message"]
    holders.declare(ID_NUMBER)
    # The venue tightens the colour's maximum age to 1 h: a colour received 2 h ago is stale.
    holders.hub.sql("UPDATE person_status SET received_at = :t WHERE source = 'authority'",
                    {"t": utc_text(utc_now() - dt.timedelta(hours=2))})
    assert _pass(client, secret)["ok"]
    holders.store.update_venue(VENUE, {"colour_max_age_hours": 1})
    body = _pass(client, secret)
    assert (body["ok"], body["reason"]) == (False, "stale_colour") and "1 小时" in body["message"]


def test_revoked_unknown_and_reissued_links(holders):
    person = holders.enrol(ID_NUMBER)
    holders.green(ID_NUMBER)
    client = holders.hub.app.test_client()
    old = holders.link(person)
    new = holders.link(person)  # re-issued: the old one stops working
    assert client.get(f"/h/{old}").status_code == 404 and client.get(f"/h/{old}/pass").status_code == 404
    assert _pass(client, new)["ok"]
    assert holders.store.revoke_holder_links(VENUE, person["subject"]) == 1
    assert client.get(f"/h/{new}/pass").status_code == 404
    for bad in ("x", "a" * 200, new[:-1] + ("A" if new[-1] != "A" else "B"), "%00" * 20):
        assert client.get(f"/h/{bad}").status_code == 404


def test_only_the_secrets_hash_is_stored(holders):
    secret = holders.link(holders.enrol(ID_NUMBER))
    rows = holders.hub.sql("SELECT secret_hash FROM holder_links")
    assert len(rows) == 1 and rows[0][0] != secret and len(rows[0][0]) == 64


def test_guessing_links_is_rate_limited(holders):
    client = holders.hub.app.test_client()
    person = holders.enrol(ID_NUMBER)
    holders.green(ID_NUMBER)
    secret = holders.link(person)
    answers = [client.get(f"/h/{'g' * 43}{i:03d}").status_code for i in range(22)]
    assert answers[:20] == [404] * 20 and answers[-1] == 429
    # A holder with a real link is refused too from that source meanwhile (the limit is per source, not per link).
    assert client.get(f"/h/{secret}/pass").status_code == 429


def test_a_visitors_link_works_only_in_the_window(holders):
    person = holders.enrol("110105194912310038", name="王*华", person_class="visitor", group=None)
    holders.green("110105194912310038")
    client = holders.hub.app.test_client()
    now = utc_now()
    live = holders.link(person, valid_from=utc_text(now - dt.timedelta(hours=1)),
                        valid_until=utc_text(now + dt.timedelta(hours=1)))
    body = _pass(client, live)
    cred = verify_healthpass(body["code"], holders.trust(), utc_now()).credential
    assert cred.person_class == "visitor" and cred.window.end == dt.datetime.fromisoformat(
        utc_text(now + dt.timedelta(hours=1), "seconds").replace("Z", "+00:00"))
    over = holders.link(person, valid_from=utc_text(now - dt.timedelta(hours=2)),
                        valid_until=utc_text(now - dt.timedelta(minutes=1)))
    assert client.get(f"/h/{over}").status_code == 404


def test_a_courier_declares_goods_that_the_pass_carries_and_the_trace_finds(holders):
    courier = holders.enrol(COURIER_ID, name="刘*", person_class="courier", group=None)
    holders.green(COURIER_ID)
    secret, client = holders.link(courier), holders.hub.app.test_client()
    assert "申报货物" in client.get(f"/h/{secret}").get_data(as_text=True)
    answer = client.post(f"/h/{secret}/goods", json={"goods": [GOODS]})
    assert answer.status_code == 200 and answer.get_json()["declared"] == 1
    cred = verify_healthpass(_pass(client, secret)["code"], holders.trust(), utc_now()).credential
    assert cred.goods[0].batch == "B-1130" and cred.goods[0].report == "LC-0042"
    rows = holders.store.goods_trace(VENUE, "B-1130")
    assert len(rows) == 1 and rows[0]["name"] == "刘*" and rows[0]["cold_chain"] == 1
    # A second declaration replaces what the passes carry; the trace keeps both.
    client.post(f"/h/{secret}/goods", json={"goods": [{**GOODS, "report": None, "cold_chain": True}]})
    assert "门岗将拒绝" in client.post(f"/h/{secret}/goods", json={"goods": [{**GOODS, "report": None}]}).get_json()["message"]
    assert len(holders.store.goods_trace(VENUE, "B-1130")) == 3
    assert len(holders.store.active_goods(VENUE, courier["subject"])) == 1


@pytest.mark.parametrize("body", [
    {"goods": [{**GOODS, "batch": ""}]}, {"goods": [{**GOODS, "extra": 1}]}, {"goods": [GOODS] * 17},
    {"goods": "B-1130"}, {"goods": [{**GOODS, "quantity": "9" * 33}]}, {},
])
def test_bad_goods_are_refused_and_nothing_is_stored(holders, body):
    courier = holders.enrol(COURIER_ID, name="刘*", person_class="courier", group=None)
    secret, client = holders.link(courier), holders.hub.app.test_client()
    answer = client.post(f"/h/{secret}/goods", json=body)
    assert answer.status_code == 422 and answer.get_json()["reason"] == "bad_goods"
    assert "货物信息有误" in answer.get_json()["message"]
    assert client.post(f"/h/{secret}/goods", data=b"\xff\xfe", content_type="application/json").status_code == 422
    assert client.post(f"/h/{secret}/goods", data="x", content_type="text/plain").status_code == 415
    assert holders.hub.sql("SELECT count(*) FROM goods") == [(0,)]


def test_only_couriers_declare_goods(holders):
    secret = holders.link(holders.enrol(ID_NUMBER))
    answer = holders.hub.app.test_client().post(f"/h/{secret}/goods", json={"goods": [GOODS]})
    assert answer.status_code == 403 and holders.hub.sql("SELECT count(*) FROM goods") == [(0,)]


def test_holder_link_command_prints_a_working_link_and_revokes_it(holders):
    holders.enrol(ID_NUMBER)
    holders.green(ID_NUMBER)
    run = CliRunner().invoke
    db = ["--database", holders.hub.db] if "://" in holders.hub.db else ["--db", holders.hub.db]
    out = run(main, ["hub", "holder-link", *db, "--venue", VENUE, "--id", ID_NUMBER, "--base-url", "https://hub.example.cn/"])
    assert out.exit_code == 0, out.output
    link = out.output.strip()
    assert link.startswith("https://hub.example.cn/h/")
    client = holders.hub.app.test_client()
    assert _pass(client, link.rsplit("/", 1)[1])["ok"]
    out = run(main, ["hub", "holder-link", *db, "--venue", VENUE, "--id", ID_NUMBER, "--revoke"])
    assert out.exit_code == 0 and "revoked 1" in out.output
    assert client.get(f"/h/{link.rsplit('/', 1)[1]}/pass").status_code == 404
    bad = run(main, ["hub", "holder-link", *db, "--venue", VENUE, "--id", "110105194912310020"])
    assert bad.exit_code != 0 and "未登记" in bad.output
    actions = [r[0] for r in holders.hub.sql("SELECT action FROM audit WHERE action LIKE 'holder.%' ORDER BY id")]
    assert actions == ["holder.link_issue", "holder.link_revoke"]


def test_issuer_key_command_prints_the_trust_list_entry(holders, tmp_path):
    db = ["--database", holders.hub.db] if "://" in holders.hub.db else ["--db", holders.hub.db]
    out = CliRunner().invoke(main, ["hub", "issuer-key", *db, "--venue", VENUE, "--keys", str(tmp_path / "issuer-keys")])
    assert out.exit_code == 0, out.output
    entry = json.loads(out.output)
    assert entry == holders.keys.trusted_key(VENUE).to_json() and entry["issuer"] == "hub:acme"
    bad = CliRunner().invoke(main, ["hub", "issuer-key", *db, "--venue", "nowhere", "--keys", str(tmp_path / "k")])
    assert bad.exit_code != 0 and "no such venue" in bad.output
