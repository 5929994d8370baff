"""Topics round-trip through build and parse; foreign or hostile topics are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import topics
from protocols.topics import Channel, TopicError

ids = st.from_regex(r"\A[A-Za-z0-9_.-]{1,64}\Z")


@given(ids, ids, st.sampled_from(list(Channel)))
def test_every_built_topic_parses_back_to_its_parts(venue: str, gate: str, channel: Channel) -> None:
    parsed = topics.parse(topics.gate_topic(venue, gate, channel))
    assert (parsed.venue, parsed.gate, parsed.channel) == (venue, gate, channel)
    assert str(parsed) == topics.gate_topic(venue, gate, channel)


def test_named_builders_use_the_root_and_the_channel() -> None:
    assert topics.status("acme", "north") == "checkpoint/v1/acme/north/status"
    assert topics.events("acme", "north") == "checkpoint/v1/acme/north/events"
    assert topics.thermometer("acme", "north") == "checkpoint/v1/acme/north/thermometer"
    assert topics.notice("a", "b").endswith("/notice") and topics.ack("a", "b").endswith("/ack")
    assert topics.gate_filter("acme", "north") == "checkpoint/v1/acme/north/#"
    assert topics.all_gates("events") == "checkpoint/v1/+/+/events"


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "a b", "x" * 65, "门"])
def test_unsafe_ids_are_refused_when_building(bad: str) -> None:
    with pytest.raises(TopicError):
        topics.events(bad, "north")
    with pytest.raises(TopicError):
        topics.events("acme", bad)


@pytest.mark.parametrize(
    "topic",
    ["", "other/v1/a/b/events", "checkpoint/v1/a/b", "checkpoint/v1/a/b/events/x",
     "checkpoint/v1/a/b/nope", "checkpoint/v1/+/b/events", "checkpoint/v2/a/b/events"],
)
def test_foreign_topics_are_refused_when_parsing(topic: str) -> None:
    with pytest.raises(TopicError):
        topics.parse(topic)


def test_every_payload_example_in_topics_md_parses_with_its_channel_model() -> None:
    import re
    from importlib import resources

    text = resources.files("protocols").joinpath("topics.md").read_text(encoding="utf-8")
    checked = set()
    for section in text.split("\n## ")[1:]:
        topic = re.match(r"`([^`]+)`", section).group(1).replace("{venue}", "acme").replace("{gate}", "north")
        channel = topics.parse(topic).channel
        example = re.search(r"```(?:json)?\n(.*?)```", section, re.S).group(1)
        model = topics.MESSAGES.get(channel)
        if model is not None:
            model.model_validate_json(example)
            checked.add(channel)
    assert checked == set(topics.MESSAGES)
