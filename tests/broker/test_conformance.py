"""Broker conformance: what edgewatch relies on from an MQTT 3.1.1 broker, on both brokers.

Every test runs against the embedded broker (amqtt with ``coordinator/broker/amqtt_fixes``)
and against Mosquitto, through the parametrised ``broker`` fixture. The properties are the
ones the product depends on (docs/brokers.md maps each to the code that needs it):

* retained ``hello``/``status``/``desired`` documents reach exactly the matching filters,
  on every (re)subscribe, replaced by the next and cleared by an empty payload;
* wildcard rules (``+`` one level, ``#`` many levels and the parent, ``$`` topics apart);
* QoS 1 both ways at the lower of the publish and subscription QoS, in order per topic,
  queued for a persistent session while it is offline, redelivered when unacknowledged;
* one connection per client id (a new one takes over);
* wills: fired when the socket breaks or keepalive expires (1.5 x keepalive), never
  after a clean DISCONNECT;
* 2 MiB payloads.

"Nothing else arrived" is never a sleep: after the event under test the test publishes a
*sentinel* the client does match and asserts on everything received before it (a broker
sends a client's messages in order, and the event under test happens first).
"""

from __future__ import annotations

import hashlib
import time
import uuid

import pytest

from tests.broker.clients import Client, Message
from tests.broker.harness import Harness
from tests.broker.rawmqtt import PINGRESP, Will
from tests.support.faultproxy import ProxyFactory

KEEPALIVE_S = 2
# How late past 1.5 x keepalive a broker may notice a silent client. The embedded one
# times out each read at that deadline (scheduling on a loaded 2-core box aside);
# Mosquitto 2.0.11 runs its keepalive__check only every 5 s, on whole seconds.
KEEPALIVE_LAG_S = {"embedded": 1.0, "mosquitto": 6.5}
OUTAGE_S = 1.5


def payloads(messages: list[Message]) -> list[bytes]:
    return [m.payload for m in messages]


SENTINEL = b"sentinel-"


def before_sentinel(client: Client, publisher: Client, topic: str) -> list[Message]:
    """Everything ``client`` got before a fresh sentinel published on ``topic`` (and
    after none: earlier sentinels are left out)."""
    sentinel = SENTINEL + uuid.uuid4().hex[:8].encode()
    publisher.publish(topic, sentinel)
    return [m for m in client.wait_payload(sentinel)[:-1] if not m.payload.startswith(SENTINEL)]


def settle(
    observer: Client,
    publisher: Client,
    topic: str,
    payload: bytes,
    qos: int = 1,
    retain: bool = False,
) -> None:
    """Publish and wait until ``observer`` saw it: the broker has fully processed it."""
    publisher.publish(topic, payload, qos=qos, retain=retain)
    observer.wait_for(lambda got: any(m.topic == topic and m.payload == payload for m in got))


@pytest.fixture
def observer(mq: Harness) -> Client:
    """A client holding ``PREFIX/#``: the barrier for settled publishes (and a wildcard)."""
    client = mq.client()
    client.subscribe(mq.topic("#"))
    return client


@pytest.fixture
def pub(mq: Harness) -> Client:
    return mq.client()


# -- retained messages -------------------------------------------------------------------


def test_a_retained_message_reaches_exactly_the_matching_filters(
    mq: Harness, pub: Client, observer: Client
) -> None:
    status, hello = mq.topic("agents", "a", "status"), mq.topic("agents", "a", "hello")
    settle(observer, pub, status, b"online", retain=True)
    settle(observer, pub, hello, b"hello-a", retain=True)
    cases = {  # filter -> (sentinel topic it matches, retained payloads it must get)
        status: (status, [b"online"]),
        mq.topic("agents", "+", "status"): (mq.topic("agents", "s", "status"), [b"online"]),
        mq.topic("agents", "#"): (mq.topic("agents", "s"), [b"hello-a", b"online"]),
        mq.topic("agents", "+", "ack"): (mq.topic("agents", "a", "ack"), []),
        mq.topic("other", "#"): (mq.topic("other"), []),
    }
    for topic_filter, (sentinel_topic, expected) in cases.items():
        sub = mq.client()
        sub.subscribe(topic_filter)
        got = before_sentinel(sub, pub, sentinel_topic)
        assert sorted(payloads(got)) == expected, topic_filter
        assert all(m.retain for m in got), topic_filter


def test_a_new_client_gets_no_retained_message_for_filters_other_clients_hold(
    mq: Harness, pub: Client, observer: Client
) -> None:
    # The coordinator's subscriptions, held while agents announce themselves.
    for kind in ("hello", "status", "heartbeat", "results"):
        observer.subscribe(mq.topic("agents", "+", kind))
    for agent in ("a", "b"):
        settle(
            observer,
            pub,
            mq.topic("agents", agent, "hello"),
            f"hello-{agent}".encode(),
            retain=True,
        )
        settle(observer, pub, mq.topic("agents", agent, "status"), b"online", retain=True)

    agent = mq.client()  # an agent listening for its acks only
    agent.subscribe(mq.topic("agents", "a", "ack"))
    assert before_sentinel(agent, pub, mq.topic("agents", "a", "ack")) == []

    watcher = mq.client()  # mosquitto_sub -t 'edgewatch/agents/+/status'
    watcher.subscribe(mq.topic("agents", "+", "status"))
    got = before_sentinel(watcher, pub, mq.topic("agents", "z", "status"))
    assert sorted((m.topic, m.payload) for m in got) == [
        (mq.topic("agents", "a", "status"), b"online"),
        (mq.topic("agents", "b", "status"), b"online"),
    ]

    # Reconnecting (a persistent session, its filters still held) brings no retained
    # message either: they are sent on SUBSCRIBE only.
    persistent = mq.client(client_id=f"p-{uuid.uuid4().hex[:6]}", clean_session=False)
    persistent.subscribe(mq.topic("agents", "a", "ack"))
    persistent.disconnect()
    again = mq.client(client_id=persistent.client_id, clean_session=False)
    assert again.session_present
    assert before_sentinel(again, pub, mq.topic("agents", "a", "ack")) == []


def test_a_retained_message_is_replaced_and_an_empty_payload_clears_it(
    mq: Harness, pub: Client, observer: Client
) -> None:
    topic = mq.topic("agents", "a", "desired")
    settle(observer, pub, topic, b"v1", retain=True)
    settle(observer, pub, topic, b"v2", retain=True)
    first = mq.client()
    first.subscribe(topic)
    assert payloads(before_sentinel(first, pub, topic)) == [b"v2"]

    pub.publish(topic, b"", retain=True)
    # The empty retained message is delivered as normal to existing subscribers ...
    observer.wait_for(lambda got: any(m.topic == topic and m.payload == b"" for m in got))
    # ... and leaves nothing retained for the next one.
    second = mq.client()
    second.subscribe(topic)
    assert before_sentinel(second, pub, topic) == []


def test_retained_messages_are_sent_on_every_subscribe_and_live_ones_unflagged(
    mq: Harness, pub: Client, observer: Client
) -> None:
    topic = mq.topic("agents", "a", "desired")
    settle(observer, pub, topic, b"doc", retain=True)
    sub = mq.client()
    sub.subscribe(topic)
    sub.wait_payload(b"doc")
    sub.subscribe(topic)  # the same filter again [MQTT-3.8.4-3]
    sub.wait_for(lambda got: payloads(got).count(b"doc") == 2)
    sub.unsubscribe(topic)
    sub.subscribe(topic)
    sub.wait_for(lambda got: payloads(got).count(b"doc") == 3)
    assert all(m.retain for m in sub.messages)

    pub.publish(topic, b"live", retain=True)  # matched by an established subscription
    assert sub.wait_payload(b"live")[-1].retain is False

    sub.disconnect()  # and after a reconnect, subscribing again brings the current one
    sub = mq.client()
    sub.subscribe(topic)
    got = sub.wait_payload(b"live")
    assert [(m.payload, m.retain) for m in got] == [(b"live", True)]


def test_retained_delivery_uses_the_lower_of_the_two_qos(
    mq: Harness, pub: Client, observer: Client
) -> None:
    settle(observer, pub, mq.topic("q0"), b"retained-q0", qos=0, retain=True)
    settle(observer, pub, mq.topic("q1"), b"retained-q1", qos=1, retain=True)
    sub1, sub0 = mq.client(), mq.client()
    assert sub1.subscribe(mq.topic("+"), qos=1) == 1
    assert sub0.subscribe(mq.topic("+"), qos=0) == 0
    got1 = sorted((m.payload, m.qos) for m in before_sentinel(sub1, pub, mq.topic("s")))
    got0 = sorted((m.payload, m.qos) for m in before_sentinel(sub0, pub, mq.topic("s")))
    assert got1 == [(b"retained-q0", 0), (b"retained-q1", 1)]
    assert got0 == [(b"retained-q0", 0), (b"retained-q1", 0)]


# -- topic filters -----------------------------------------------------------------------


def test_wildcards_match_whole_levels(mq: Harness, pub: Client) -> None:
    topics = ["a", "a/b", "a/b/c", "a/b/c/d", "a/x/c", "a//c", "ab/b/c", "b/b/c"]
    filters = {  # filter -> topics it matches (all match the final sentinel "a/b/c")
        "a/+/c": {"a/b/c", "a/x/c", "a//c"},
        "a/#": {"a", "a/b", "a/b/c", "a/b/c/d", "a/x/c", "a//c"},
        "+/b/c": {"a/b/c", "ab/b/c", "b/b/c"},
        "a/b/c": {"a/b/c"},
        "#": set(topics),
    }
    subs = {}
    for topic_filter in filters:
        subs[topic_filter] = mq.client()
        subs[topic_filter].subscribe(mq.topic(topic_filter))
    for topic in topics:
        pub.publish(mq.topic(topic), topic.encode())
    pub.publish(mq.topic("a/b/c"), b"end")
    for topic_filter, expected in filters.items():
        got = subs[topic_filter].wait_payload(b"end")[:-1]
        assert {m.payload.decode() for m in got} == expected, topic_filter


def test_dollar_topics_are_not_matched_by_leading_wildcards(mq: Harness, pub: Client) -> None:
    # Both brokers retain $SYS/broker/version (the embedded one on purpose, for this).
    explicit = mq.client()
    explicit.subscribe("$SYS/broker/version")
    got = explicit.wait_for(lambda ms: len(ms) == 1, what="$SYS/broker/version")
    assert got[0].topic == "$SYS/broker/version" and got[0].retain

    first_level = uuid.uuid4().hex[:8]  # a one-level root the sentinel can use
    for topic_filter, sentinel_topic in (
        ("#", mq.topic("s")),
        ("+/broker/version", f"{first_level}/broker/version"),
    ):
        sub = mq.client()
        sub.subscribe(topic_filter)
        got = before_sentinel(sub, pub, sentinel_topic)
        assert [m.topic for m in got if m.topic.startswith("$")] == [], topic_filter


# -- QoS ---------------------------------------------------------------------------------


def test_delivery_qos_is_the_lower_of_publish_and_subscription(mq: Harness, pub: Client) -> None:
    sub1, sub0 = mq.client(), mq.client()
    sub1.subscribe(mq.topic("t"), qos=1)
    sub0.subscribe(mq.topic("t"), qos=0)
    pub.publish(mq.topic("t"), b"q0", qos=0)
    pub.publish(mq.topic("t"), b"q1", qos=1)
    assert [(m.payload, m.qos) for m in sub1.wait_payload(b"q1")] == [(b"q0", 0), (b"q1", 1)]
    assert [(m.payload, m.qos) for m in sub0.wait_payload(b"q1")] == [(b"q0", 0), (b"q1", 0)]


def test_qos1_messages_keep_their_order_per_topic(mq: Harness, pub: Client) -> None:
    sub = mq.client()
    sub.subscribe(mq.topic("results"), qos=1)
    count = 300
    infos = [pub.client.publish(mq.topic("results"), str(i).encode(), qos=1) for i in range(count)]
    for info in infos:
        info.wait_for_publish(10)
    got = sub.wait_for(lambda ms: len(ms) >= count, timeout=15)
    assert [int(m.payload) for m in got] == list(range(count))
    assert {m.qos for m in got} == {1}


def test_a_2_mib_payload_passes_live_and_retained(
    mq: Harness, pub: Client, observer: Client
) -> None:
    big = bytes(range(256)) * (2 * 1024 * 1024 // 256)
    topic = mq.topic("model")
    sub = mq.client()
    sub.subscribe(topic)
    pub.publish(topic, big, retain=True, timeout=20)
    live = sub.wait_for(lambda ms: len(ms) == 1, timeout=20)[0]
    assert hashlib.sha256(live.payload).digest() == hashlib.sha256(big).digest()
    observer.wait_for(lambda ms: any(m.topic == topic for m in ms), timeout=20)
    late = mq.client()
    late.subscribe(topic)
    (retained,) = before_sentinel(late, pub, topic)
    assert retained.retain and len(retained.payload) == len(big) and retained.payload == big


# -- sessions ----------------------------------------------------------------------------


def test_a_persistent_session_queues_qos1_messages_while_offline(
    mq: Harness, pub: Client, observer: Client
) -> None:
    coordinator_id = f"coord-{uuid.uuid4().hex[:6]}"
    coordinator = mq.client(client_id=coordinator_id, clean_session=False)
    assert coordinator.session_present is False
    coordinator.subscribe(mq.topic("agents", "+", "results"), qos=1)
    coordinator.disconnect()
    # A restart takes seconds; amqtt's session monitor purges sessions it deems
    # disposable once a second, so the outage must outlast that (a time, not an event).
    time.sleep(OUTAGE_S)

    for i in range(5):
        settle(observer, pub, mq.topic("agents", "a", "results"), f"r{i}".encode(), qos=1)
    # QoS 0 is not queued for an offline client (Mosquitto's default; heartbeats are QoS 0).
    settle(observer, pub, mq.topic("agents", "a", "results"), b"hb", qos=0)

    back = mq.client(client_id=coordinator_id, clean_session=False)
    assert back.session_present is True
    # No SUBSCRIBE: the session kept the subscription, so the sentinel reaches it too.
    got = before_sentinel(back, pub, mq.topic("agents", "b", "results"))
    assert [(m.payload, m.qos, m.retain) for m in got] == [
        (f"r{i}".encode(), 1, False) for i in range(5)
    ]


def test_a_clean_session_keeps_nothing(mq: Harness, pub: Client, observer: Client) -> None:
    client_id = f"c-{uuid.uuid4().hex[:6]}"
    first = mq.client(client_id=client_id, clean_session=False)
    first.subscribe(mq.topic("t"), qos=1)
    first.disconnect()
    settle(observer, pub, mq.topic("t"), b"queued", qos=1)
    clean = mq.client(client_id=client_id, clean_session=True)
    assert clean.session_present is False
    clean.subscribe(mq.topic("t"), qos=1)
    assert before_sentinel(clean, pub, mq.topic("t")) == []


def test_an_unacknowledged_qos1_message_is_redelivered_after_reconnect(
    mq: Harness, pub: Client
) -> None:
    client_id = f"r-{uuid.uuid4().hex[:6]}"
    raw = mq.raw()
    raw.connect(client_id, clean_session=False)
    assert raw.subscribe([(mq.topic("ack"), 1)]) == [1]
    pub.publish(mq.topic("ack"), b"must-arrive", qos=1)
    first = raw.expect_publish()
    assert (first.payload, first.qos, first.dup) == (b"must-arrive", 1, False)
    raw.abort()  # never acknowledged

    again = mq.raw()
    assert again.connect(client_id, clean_session=False).session_present
    redelivered = again.expect_publish()
    assert (redelivered.payload, redelivered.qos, redelivered.dup) == (b"must-arrive", 1, True)
    assert redelivered.packet_id == first.packet_id  # [MQTT-4.4.0-1]
    assert redelivered.packet_id is not None
    again.puback(redelivered.packet_id)
    again.disconnect()
    assert again.wait_closed(5)

    # Acknowledged now: the next reconnect brings only what is new.
    third = mq.raw()
    assert third.connect(client_id, clean_session=False).session_present
    pub.publish(mq.topic("ack"), b"next", qos=1)
    assert third.expect_publish().payload == b"next"


def test_an_mqtt5_connect_is_answered_at_once(mq: Harness) -> None:
    # Clients in auto mode (MqttLink) try MQTT 5 first: the embedded broker, 3.1.1 only,
    # must refuse it with 0x01 [MQTT-3.1.2-2] rather than leave it unanswered.
    raw = mq.raw()
    code = raw.connect_v5(f"v5-{uuid.uuid4().hex[:6]}")
    assert code == {"embedded": 0x01, "mosquitto": 0x00}[mq.broker.kind]


@pytest.mark.parametrize("clean_session", [True, False], ids=["clean", "persistent"])
def test_a_second_connection_with_the_same_client_id_takes_over(
    mq: Harness, pub: Client, clean_session: bool
) -> None:
    client_id = f"t-{uuid.uuid4().hex[:6]}"
    old = mq.raw()  # a half-open connection: the agent's link died silently
    old.connect(client_id, clean_session=clean_session, keepalive=60)
    old.subscribe([(mq.topic("agents", "a", "ack"), 1)])

    new = mq.client(client_id=client_id, clean_session=clean_session)
    assert old.wait_closed(5), "the broker kept the old connection [MQTT-3.1.4-2]"
    if clean_session:
        new.subscribe(mq.topic("agents", "a", "ack"))
    else:
        assert new.session_present
    pub.publish(mq.topic("agents", "a", "ack"), b"ack-1")
    assert payloads(new.wait_payload(b"ack-1")) == [b"ack-1"]


# -- wills and keepalive -----------------------------------------------------------------


def status_will(mq: Harness) -> Will:
    return Will(mq.topic("agents", "a", "status"), b"offline", qos=1, retain=True)


def test_the_will_fires_when_the_socket_breaks(mq: Harness, observer: Client) -> None:
    agent = mq.client(will=status_will(mq))
    agent.kill()
    observer.wait_payload(b"offline")
    late = mq.client()  # retained, as the coordinator's restart relies on
    late.subscribe(mq.topic("agents", "+", "status"))
    assert [(m.payload, m.retain) for m in late.wait_for(lambda ms: len(ms) == 1)] == [
        (b"offline", True)
    ]


def test_a_resumed_session_fires_the_will_of_its_latest_connect(
    mq: Harness, pub: Client, observer: Client
) -> None:
    client_id, status = f"v-{uuid.uuid4().hex[:6]}", mq.topic("agents", "a", "status")
    first = mq.client(
        client_id=client_id, clean_session=False, will=Will(status, b"old", retain=False)
    )
    first.disconnect()
    again = mq.client(client_id=client_id, clean_session=False, will=status_will(mq))
    assert again.session_present
    again.kill()
    observer.wait_payload(b"offline")
    late = mq.client()
    late.subscribe(status)
    assert [(m.payload, m.retain) for m in before_sentinel(late, pub, status)] == [
        (b"offline", True)
    ]


def test_no_will_after_a_clean_disconnect(mq: Harness, pub: Client, observer: Client) -> None:
    status = mq.topic("agents", "a", "status")
    raw = mq.raw()
    raw.connect(f"w-{uuid.uuid4().hex[:6]}", will=status_will(mq))
    raw.disconnect()
    # The broker decides about the will before it closes the connection, so anything it
    # published would come before a sentinel sent once the close is seen.
    assert raw.wait_closed(5), "the broker kept the connection open after DISCONNECT"
    assert b"offline" not in payloads(before_sentinel(observer, pub, status))

    # paho sends DISCONNECT and closes at once, so the broker reads both together: a broker
    # that let the close overtake the DISCONNECT would fire the will. Two sentinels, one
    # after the other, give it a full round trip to have handled that connection.
    agent = mq.client(will=status_will(mq))
    agent.disconnect()
    for _ in range(2):
        assert b"offline" not in payloads(before_sentinel(observer, pub, status))


def test_a_refused_publish_never_leaves_a_connection_half_served(
    mq: Harness, observer: Client
) -> None:
    # A broker may refuse a PUBLISH to a "$" topic (the embedded one does; Mosquitto
    # takes it). Either it goes on serving the client or it disconnects it, will and all;
    # it must not keep the connection while dropping everything sent on it.
    raw = mq.raw()
    raw.connect(f"d-{uuid.uuid4().hex[:6]}", will=status_will(mq))
    raw.publish("$edgewatch/refused", b"refused")
    raw.publish(mq.topic("after"), b"after")
    got = observer.wait_for(lambda ms: any(m.payload in (b"after", b"offline") for m in ms))
    assert {"embedded": b"offline", "mosquitto": b"after"}[mq.broker.kind] in payloads(got)


def test_a_silent_client_is_dropped_within_1_5_keepalive_and_its_will_fires(
    mq: Harness, observer: Client, fault_proxy: ProxyFactory
) -> None:
    proxy = fault_proxy(mq.broker.host, mq.broker.port)
    mq.client(via=(proxy.host, proxy.port), keepalive=KEEPALIVE_S, will=status_will(mq))
    proxy.blackhole()  # the broker's socket stays open; nothing more arrives on it
    cut = time.monotonic()
    bound = 1.5 * KEEPALIVE_S + KEEPALIVE_LAG_S[mq.broker.kind]
    observer.wait_payload(b"offline", timeout=bound + 2)
    waited = time.monotonic() - cut
    assert waited <= bound, f"will {waited:.2f}s after the link went silent"


def test_a_client_pinging_within_1_5_keepalive_stays_connected(
    mq: Harness, pub: Client, observer: Client
) -> None:
    raw = mq.raw()
    raw.connect(f"k-{uuid.uuid4().hex[:6]}", keepalive=KEEPALIVE_S, will=status_will(mq))
    for _ in range(2):
        # Silent for 1.2 x keepalive: within the 1.5 x the broker must allow.
        assert not raw.wait_closed(1.2 * KEEPALIVE_S), "dropped before 1.5 x keepalive"
        raw.ping()
        raw.expect(PINGRESP)
    assert b"offline" not in payloads(
        before_sentinel(observer, pub, mq.topic("agents", "a", "status"))
    )
