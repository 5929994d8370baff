"""China's administrative divisions from the vendored data: lookups by code and by the names lists print."""

from __future__ import annotations

import pytest

from protocols.division_codes import DivisionError, children, division, divisions, full_name, resolve


def test_every_level_is_there_and_every_parent_exists():
    found = divisions()
    levels = {d.level for d in found.values()}
    assert levels == {"province", "city", "district"}
    assert len(children(None)) == 31  # the mainland's provinces, autonomous regions and municipalities
    assert all(d.parent in found for d in found.values() if d.parent is not None)


def test_a_municipalitys_district_is_named_without_its_placeholder_city():
    assert full_name("110105") == "北京市朝阳区"
    assert full_name("440305") == "广东省深圳市南山区"
    assert division("440300").level == "city"


@pytest.mark.parametrize("names, code", [
    (("北京市", "北京市", "朝阳区"), "110105"),
    (("北京", None, "朝阳区"), "110105"),
    (("广东省", "深圳市", "南山区"), "440305"),
    (("重庆市", "", "巫山县"), "500237"),
    (("湖北省", "武汉市", None), "420100"),
])
def test_names_as_lists_print_them_resolve_to_one_code(names, code):
    assert resolve(*names).code == code


@pytest.mark.parametrize("names, said", [
    (("火星省", None, None), "province '火星省' is unknown"),
    (("广东省", "北京市", None), "city '北京市' in 广东省 is unknown"),
    (("吉林省", "长春市", "朝阳区"), None),  # exists: 长春 has a 朝阳区 too
])
def test_an_unknown_or_foreign_name_is_refused_by_name(names, said):
    if said is None:
        assert resolve(*names).code == "220104"
        return
    with pytest.raises(DivisionError, match=said):
        resolve(*names)


def test_an_unknown_code_names_itself():
    with pytest.raises(DivisionError, match="999999"):
        division("999999")
