"""Issuing (server/issuing.py): the hub's passes verify on a gate's trust list, and stale data never gives green."""

from __future__ import annotations

import datetime as dt
import stat

import pytest

from protocols.credential import Goods, NucleicAcidTest, VisitWindow
from protocols.healthpass import verify_healthpass
from protocols.trustlist import TrustList
from server.issuing import COLOUR_MAX_AGE, IssuePolicy, IssueRefused, IssuerKeys, PersonStatus, issue, pass_claims

NOW = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.timezone.utc)
POLICY = IssuePolicy(issuer="hub:v1")


def status(**over) -> PersonStatus:
    fields = dict(subject="k-abc", name="张*明", person_class="staff", group="装配一组", colour="green",
                  colour_since=NOW - dt.timedelta(days=3), colour_recorded_at=NOW - dt.timedelta(hours=2),
                  test=NucleicAcidTest(at=NOW - dt.timedelta(hours=20), result="negative"),
                  declared_at=NOW - dt.timedelta(hours=1))
    fields.update(over)
    return PersonStatus(**fields)


@pytest.fixture()
def keys(tmp_path):
    return IssuerKeys(tmp_path / "issuer-keys")


def test_issued_pass_verifies_with_the_venues_trust_list_entry(keys):
    key = keys.create("v1")
    text, claims = issue(status(), POLICY, key, NOW)
    result = verify_healthpass(text, TrustList([keys.trusted_key("v1")]), NOW + dt.timedelta(minutes=1), max_age=600)
    assert result.ok, result.reason
    cred = result.credential
    assert (cred.issuer, cred.colour, cred.group, cred.test.result) == ("hub:v1", "green", "装配一组", "negative")
    assert cred.expires_at - cred.issued_at == dt.timedelta(minutes=5)  # the default validity


def test_key_file_is_private_and_kept(keys):
    key = keys.create("v1")
    path = keys.path("v1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert IssuerKeys(path.parent).key("v1").public_key() == key.public_key()
    assert keys.create("v1").public_key() == key.public_key()  # never replaced by a second create


@pytest.mark.parametrize("bad", ["../etc", "", ".hidden", "a/b", "x" * 65])
def test_venue_ids_that_cannot_name_a_file_are_refused(keys, bad):
    with pytest.raises(ValueError):
        keys.path(bad)


def test_no_key_refuses_with_the_holders_reason(keys):
    with pytest.raises(IssueRefused) as err:
        keys.key("v2")
    assert err.value.reason == "no_issuer_key" and "密钥" in err.value.message


def test_no_status_is_refused():
    with pytest.raises(IssueRefused) as err:
        pass_claims(status(colour=None, colour_recorded_at=None), POLICY, NOW)
    assert err.value.reason == "no_status" and err.value.message.startswith("暂无")


def test_a_green_older_than_24_hours_is_never_issued_but_yellow_is():
    old = NOW - COLOUR_MAX_AGE
    with pytest.raises(IssueRefused) as err:
        pass_claims(status(colour_recorded_at=old), POLICY, NOW)
    assert err.value.reason == "stale_colour"
    assert pass_claims(status(colour="yellow", colour_recorded_at=old), POLICY, NOW).colour == "yellow"


def test_a_green_pass_never_outlives_its_colours_freshness():
    recorded = NOW - COLOUR_MAX_AGE + dt.timedelta(minutes=2)
    claims = pass_claims(status(colour_recorded_at=recorded), POLICY, NOW)
    assert claims.expires_at == recorded + COLOUR_MAX_AGE


def test_a_test_older_than_the_venues_window_is_left_out():
    old = NucleicAcidTest(at=NOW - dt.timedelta(hours=49), result="negative")
    assert pass_claims(status(test=old), POLICY, NOW).test is None
    week = IssuePolicy.for_venue({"id": "v1", "test_window_hours": 168, "pass_minutes": 2})
    claims = pass_claims(status(test=old), week, NOW)
    assert claims.test == old and claims.expires_at - claims.issued_at == dt.timedelta(minutes=2)


def test_a_visitors_pass_lies_inside_the_visit_window():
    window = VisitWindow(start=NOW - dt.timedelta(hours=1), end=NOW + dt.timedelta(minutes=3))
    claims = pass_claims(status(person_class="visitor", window=window), POLICY, NOW)
    assert claims.window == window and claims.expires_at == window.end
    with pytest.raises(IssueRefused, match="尚未开始"):
        pass_claims(status(window=window), POLICY, window.start - dt.timedelta(seconds=1))
    with pytest.raises(IssueRefused, match="已结束"):
        pass_claims(status(window=window), POLICY, window.end)


def test_a_couriers_goods_are_carried(keys):
    goods = Goods(product="冻虾仁", supplier="舟山水产", origin="浙江舟山", quantity="20 箱", batch="B-1130",
                  maker="舟山海鲜加工厂", cold_chain=True, report="LC-0042")
    text, _ = issue(status(person_class="courier", goods=(goods,)), POLICY, keys.create("v1"), NOW)
    result = verify_healthpass(text, TrustList([keys.trusted_key("v1")]), NOW)
    assert result.ok and result.credential.goods == [goods]


def test_a_green_needs_a_fresh_declaration_of_stays():
    with pytest.raises(IssueRefused) as err:
        pass_claims(status(declared_at=None), POLICY, NOW)
    assert err.value.reason == "no_declaration" and "申报" in err.value.message
    with pytest.raises(IssueRefused) as err:
        pass_claims(status(declared_at=NOW - dt.timedelta(hours=24)), POLICY, NOW)
    assert err.value.reason == "stale_declaration" and "24 小时" in err.value.message
    # A yellow is shown however old or missing the declaration.
    assert pass_claims(status(colour="yellow", declared_at=None), POLICY, NOW).colour == "yellow"
    # The pass ends when the declaration goes stale.
    declared = NOW - dt.timedelta(hours=24) + dt.timedelta(minutes=1)
    assert pass_claims(status(declared_at=declared), POLICY, NOW).expires_at == declared + dt.timedelta(hours=24)


def test_a_venue_sets_its_own_maximum_ages():
    strict = IssuePolicy.for_venue({"id": "v1", "colour_max_age_hours": 1, "declaration_max_age_hours": 12})
    assert (strict.colour_max_age, strict.declaration_max_age) == (dt.timedelta(hours=1), dt.timedelta(hours=12))
    with pytest.raises(IssueRefused) as err:
        pass_claims(status(colour_recorded_at=NOW - dt.timedelta(minutes=61)), strict, NOW)
    assert err.value.reason == "stale_colour" and "1 小时" in err.value.message and "1 hours" in err.value.message
    with pytest.raises(IssueRefused, match="12 小时"):
        pass_claims(status(colour_recorded_at=NOW - dt.timedelta(minutes=10), declared_at=NOW - dt.timedelta(hours=13)),
                    strict, NOW)
    defaults = IssuePolicy.for_venue({"id": "v1"})
    assert (defaults.colour_max_age, defaults.test_window, defaults.declaration_max_age) == (
        dt.timedelta(hours=24), dt.timedelta(hours=48), dt.timedelta(hours=24))
