"""The gathering tiers of POLICY.md §3 as a venue setting: 50 needs a plan, 100 refused, over 300 banned."""

from __future__ import annotations

from server.http_errors import ApiError

PLAN_AT, REFUSED_AT, BANNED_OVER = 50, 100, 300


def tier(gathering: int | None) -> str:
    """The tier of a gathering of this many people: normal, needs_plan, refused or banned."""
    if not gathering or gathering < PLAN_AT:
        return "normal"
    if gathering < REFUSED_AT:
        return "needs_plan"
    if gathering <= BANNED_OVER:
        return "refused"
    return "banned"


def check(gathering: int | None, plan_approved: bool | None) -> None:
    """Raise an ApiError when a venue's gathering may not be held as set."""
    t = tier(gathering)
    if t == "needs_plan" and not plan_approved:
        raise ApiError(422, "gathering_needs_plan", "50人及以上的活动需经批准的防控方案 / 50 or more need an approved prevention plan")
    if t == "refused":
        raise ApiError(422, "gathering_refused", "100人及以上的活动不予举办 / gatherings of 100 or more are not held")
    if t == "banned":
        raise ApiError(422, "gathering_banned", "300人以上的聚集活动禁止 / gatherings over 300 are banned")
