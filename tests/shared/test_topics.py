"""Topics are built and parsed in one place; anything else is refused."""

from __future__ import annotations

import pytest

from edgewatch.shared.errors import TopicError
from edgewatch.shared.topics import Kind, TopicRef, Topics


def test_build_and_parse_round_trip() -> None:
    t = Topics("edgewatch")
    for kind in (Kind.RESULTS, Kind.HELLO, Kind.HEARTBEAT, Kind.STATUS, Kind.ACK):
        topic = t.agent("pi-7", kind)
        assert topic == f"edgewatch/agents/pi-7/{kind.value}"
        assert t.parse(topic) == TopicRef(kind, "pi-7")
    assert t.parse(t.command("pi-7", "model")) == TopicRef(Kind.CMD, "pi-7", "model")


def test_multi_level_prefix_and_filters() -> None:
    t = Topics("site/a/edgewatch")
    assert t.parse("site/a/edgewatch/agents/x_1/ack") == TopicRef(Kind.ACK, "x_1")
    assert t.all_agents(Kind.RESULTS) == "site/a/edgewatch/agents/+/results"
    assert t.all_agents(Kind.CMD) == "site/a/edgewatch/agents/+/cmd/#"
    assert Topics.shared("g", t.all_agents(Kind.RESULTS)).startswith("$share/g/site/a/")
    assert t.alert("critical", "k1") == "site/a/edgewatch/alerts/critical/k1"


@pytest.mark.parametrize(
    "topic",
    [
        "other/agents/pi-7/results",  # wrong prefix
        "edgewatch/agents/pi-7",  # too short
        "edgewatch/agents/pi-7/results/extra",  # too long
        "edgewatch/agents/pi-7/nonsense",  # unknown kind
        "edgewatch/agents/pi 7/results",  # id with a space
        "edgewatch/agents/+/results",  # a wildcard is never an id
        "edgewatch/agents/pi-7/cmd",  # command without a name
        "edgewatch/nodes/pi-7/results",
    ],
)
def test_foreign_topics_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        Topics().parse(topic)


@pytest.mark.parametrize("agent_id", ["", "a/b", "a+b", "#", "x" * 65])
def test_ids_that_would_break_topics_or_acls_are_refused(agent_id: str) -> None:
    with pytest.raises(TopicError) as info:
        Topics().results(agent_id)
    assert info.value.reason == "bad_agent_id"


@pytest.mark.parametrize("prefix", ["", "a/+", "a/#", "a/"])
def test_bad_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(TopicError):
        Topics(prefix)
