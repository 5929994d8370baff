"""The demo's simulated health authority and lab (demo/feeds.py) against a served hub: its residents enrol by
the roster API, the feeds post through the status API as their own supervisor logins, and the resident the
authority turns yellow gets a yellow pass on their holder page."""

from __future__ import annotations

import time

import requests

from demo.feeds import TURNS_YELLOW, StatusFeeds, residents, roster_csv
from protocols.clock import utc_now
from protocols.healthpass import verify_healthpass
from tests.holder_helpers import VENUE, make_holders

PASSWORD = "pass-word-1"


def test_the_simulated_feeds_turn_a_resident_yellow_on_their_holder_page(hub_factory, monkeypatch, tmp_path):
    holders = make_holders(hub_factory, monkeypatch, tmp_path, serve=True)
    hub, store = holders.hub, holders.store
    store.create_user("root", PASSWORD, "admin")
    logins = {}
    for source in ("authority", "lab"):
        store.create_user(source, PASSWORD, "supervisor")
        store.set_user_venue(source, VENUE)
        logins[source] = (source, PASSWORD)
    people = residents()
    answer = requests.post(f"{hub.url}/api/v1/venues/{VENUE}/roster", data=roster_csv(people), auth=("root", PASSWORD),
                           params={"filename": "roster.csv"}, headers={"Content-Type": "text/csv"}, timeout=10)
    assert answer.status_code == 201, answer.text
    yellow = store.person(VENUE, id_hash=store.id_hash(people[TURNS_YELLOW].id_number))
    secret = holders.link(yellow)
    assert requests.post(f"{hub.url}/h/{secret}/declaration", json={"stays": []}, timeout=10).ok
    said: list[str] = []
    feeds = StatusFeeds(hub.url, VENUE, people, logins, 0.5, said.append)
    feeds.start()
    deadline = time.monotonic() + 20
    while feeds.rounds < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    feeds.stop()
    feeds.join(5)
    assert feeds.rounds >= 3 and not [s for s in said if "refused" in s or "unreachable" in s], said
    latest = store.current_status(yellow["id"])
    assert latest["authority"]["colour"] == "yellow" and latest["lab"]["test_result"] == "negative"
    assert latest["authority"]["by_user"] == "authority" and latest["lab"]["by_user"] == "lab"
    body = requests.get(f"{hub.url}/h/{secret}/pass", timeout=10).json()
    assert body["ok"] and body["colour"] == "yellow"
    assert verify_healthpass(body["code"], holders.trust(), utc_now()).credential.colour == "yellow"
    others = [store.person(VENUE, id_hash=store.id_hash(p.id_number)) for p in people if p != people[TURNS_YELLOW]]
    assert {store.current_status(p["id"])["authority"]["colour"] for p in others} == {"green"}
    # Every round is audited as the feed's own login.
    rows = hub.sql("SELECT DISTINCT username FROM audit WHERE action IN ('status.authority', 'status.lab')")
    assert sorted(r[0] for r in rows) == ["authority", "lab"]
