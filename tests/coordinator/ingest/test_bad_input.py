"""Bad input on every topic the coordinator reads: refused, counted by reason, never stored.

Hypothesis builds hostile payloads from valid ones (NaN/Infinity as JSON tokens and as
strings, bools where floats belong, nulls, missing and extra fields, deep nesting,
oversized payloads, invalid UTF-8, milliseconds for seconds, far past and future, an
agent id in the payload that differs from the topic's) for ``results``, ``hello``,
``heartbeat`` and ``status``.

* In-process bulk (> 10,000 cases): each case goes through the coordinator's real ingest
  path, ``IngestWorker.process`` (validation + one SQLite transaction on a real store in
  a temp dir) with a valid batch after it; the counters must add up exactly.
* Over a real Mosquitto against a real coordinator process (a few hundred cases): it
  stays up, ``/api/v1/stats`` ``rejected`` adds up, valid traffic in between is stored.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.coordinator.fleet.registry import FleetRegistry
from edgewatch.coordinator.ingest.inbox import Inbox
from edgewatch.coordinator.ingest.judge import Inbound, Limits, Refused, judge
from edgewatch.coordinator.ingest.worker import IngestWorker
from edgewatch.coordinator.metrics import CoordinatorMetrics
from edgewatch.coordinator.store import SqliteStore
from edgewatch.shared.schemas import MAX_TS, MIN_TS
from edgewatch.shared.topics import Kind, Topics
from tests.support.edgewatch import Coordinator
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup, wait_until

TOPICS = Topics()
MAX_BYTES = 64 * 1024
LIMITS = Limits(max_bytes=MAX_BYTES, max_future_skew_s=86_400.0)
BAD_EPOCH = 666  # every hostile payload carries it: the store must never hold one
GOOD_EPOCH = 1
# Strategy bounds must not move between draws (Hypothesis replays them): one clock read.
NOW = time.time()
METRICS = ("temperature", "humidity", "pressure", "vibration", "power_consumption")
# What a refusal may be called; a reason outside this set is itself a failure.
KNOWN = frozenset(
    {
        "agent_mismatch",
        "bad_value",
        "extra_field",
        "json",
        "missing_field",
        "non_finite",
        "out_of_range",
        "schema",
        "shape",
        "too_large",
        "ts_future",
        "ts_range",
        "utf8",
        "wrong_type",
    }
)
HYPO = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- valid documents, one per topic kind ---------------------------------------------------


def results_doc(agent: str, n: int, *, epoch: int = BAD_EPOCH, first_seq: int = 0) -> Any:
    now = time.time()
    return {
        "schema_version": 1,
        "agent_id": agent,
        "epoch": epoch,
        "first_seq": first_seq,
        "sensor_id": [f"s-{i % 3}" for i in range(n)],
        "sensor_type": ["industrial"] * n,
        "ts": [now - (n - i) * 0.01 for i in range(n)],
        "metrics": {m: [20.0 + i for i in range(n)] for m in METRICS},
        "status": ["normal"] * n,
        "label": [0] * n,
        "score": [0.1] * n,
        "anomaly": [False] * n,
        "confidence": [0.9] * n,
        "scorer": ["rules"] * n,
    }


def hello_doc(agent: str) -> Any:
    return {
        "schema_version": 1,
        "agent_id": agent,
        "ts": time.time(),
        "version": "0.1.0",
        "tier": "low",
        "latitude": 52.5,
        "longitude": 13.4,
        "capabilities": ["rules"],
        "models": {},
        "sensors": 10,
        "epoch": BAD_EPOCH,
    }


def heartbeat_doc(agent: str) -> Any:
    return {
        "schema_version": 1,
        "agent_id": agent,
        "ts": time.time(),
        "uptime_s": 12.5,
        "cpu_percent": 3.5,
        "memory_percent": 40.0,
        "rss_mb": 50.0,
        "battery_percent": 80.0,
        "battery_simulated": True,
        "outbox_rows": 0,
        "outbox_bytes": 0,
        "outbox_oldest_age_s": 0.0,
        "readings_scored": 10,
        "readings_acked": 10,
        "dropped": {},
        "scorer": "rules",
        "models": {},
        "mqtt_protocol": "5",
        "connected_since": time.time(),
        "conditions": [],
    }


def status_doc(agent: str) -> Any:
    return {"schema_version": 1, "agent_id": agent, "state": "online", "ts": time.time()}


DOCS: dict[Kind, Callable[[str], Any]] = {
    Kind.RESULTS: lambda agent: results_doc(agent, 3),
    Kind.HELLO: hello_doc,
    Kind.HEARTBEAT: heartbeat_doc,
    Kind.STATUS: status_doc,
}
# Paths to float fields (where NaN, bools and strings are wrong) and to timestamps.
FLOATS: dict[Kind, list[tuple[Any, ...]]] = {
    Kind.RESULTS: [("ts", 1), ("metrics", "temperature", 0), ("score", 2), ("confidence", 0)],
    Kind.HELLO: [("ts",), ("latitude",), ("longitude",)],
    Kind.HEARTBEAT: [("ts",), ("uptime_s",), ("cpu_percent",), ("rss_mb",)],
    Kind.STATUS: [("ts",)],
}
TIMESTAMPS: dict[Kind, tuple[Any, ...]] = {
    Kind.RESULTS: ("ts", 0),
    Kind.HELLO: ("ts",),
    Kind.HEARTBEAT: ("ts",),
    Kind.STATUS: ("ts",),
}
# Fields without a default: a missing or null one must be refused.
REQUIRED: dict[Kind, list[str]] = {
    Kind.RESULTS: [k for k in results_doc("x", 1) if k != "schema_version"],
    Kind.HELLO: ["agent_id", "ts", "version", "tier", "sensors", "epoch"],
    Kind.HEARTBEAT: ["agent_id", "ts", "uptime_s", "cpu_percent", "outbox_rows", "scorer"],
    Kind.STATUS: ["agent_id", "state"],
}


def set_path(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def dumps(doc: Any) -> bytes:
    # The stdlib writes NaN/Infinity as the bare tokens a sloppy sender would.
    return json.dumps(doc, allow_nan=True).encode()


# -- hostile cases ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    kind: Kind
    agent: str  # the agent id in the topic
    payload: bytes
    expect: frozenset[str]
    label: str

    @property
    def topic(self) -> str:
        return TOPICS.agent(self.agent, self.kind)


agents = st.from_regex(r"\A[a-z][a-z0-9_.-]{0,15}\Z")


@st.composite
def non_finite(draw: st.DrawFn, kind: Kind) -> Case:
    agent = draw(agents)
    path = draw(st.sampled_from(FLOATS[kind]))
    value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    doc = set_path(DOCS[kind](agent), path, value)
    return Case(kind, agent, dumps(doc), frozenset({"non_finite"}), f"token {value} at {path}")


@st.composite
def wrong_scalar(draw: st.DrawFn, kind: Kind) -> Case:
    """Strings ("NaN", "1.5"), bools or nulls where a float belongs."""
    agent = draw(agents)
    path = draw(st.sampled_from(FLOATS[kind]))
    value = draw(
        st.sampled_from(["NaN", "Infinity", "-Infinity", "1.5", "", True, False])
        | st.text(max_size=20)
        | st.lists(st.floats(allow_nan=False), max_size=3)
    )
    doc = set_path(DOCS[kind](agent), path, value)
    return Case(kind, agent, dumps(doc), frozenset({"wrong_type"}), f"{value!r} at {path}")


@st.composite
def null_or_missing(draw: st.DrawFn, kind: Kind) -> Case:
    agent = draw(agents)
    doc = DOCS[kind](agent)
    field = draw(st.sampled_from(REQUIRED[kind]))
    if draw(st.booleans()):
        del doc[field]
        return Case(kind, agent, dumps(doc), frozenset({"missing_field"}), f"no {field}")
    doc[field] = None
    # A null where a literal belongs ("tier", "state") is a bad value, elsewhere a bad type.
    expect = frozenset({"wrong_type", "bad_value"})
    return Case(kind, agent, dumps(doc), expect, f"{field}: null")


@st.composite
def extra_field(draw: st.DrawFn, kind: Kind) -> Case:
    agent = draw(agents)
    doc = DOCS[kind](agent)
    name = draw(st.text(min_size=1, max_size=30).filter(lambda k: k not in doc))
    doc[name] = draw(st.none() | st.integers() | st.text(max_size=10) | st.floats())
    return Case(kind, agent, dumps(doc), frozenset({"extra_field"}), f"extra {name!r}")


@st.composite
def deep_nesting(draw: st.DrawFn, kind: Kind) -> Case:
    agent = draw(agents)
    depth = draw(st.integers(min_value=300, max_value=50_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    field = draw(st.sampled_from([*REQUIRED[kind], "nested"]))
    doc = DOCS[kind](agent)
    doc[field] = "@@NEST@@"
    nest = opener * depth + "1" + closer * depth
    payload = dumps(doc).replace(b'"@@NEST@@"', nest.encode())
    # Past the size limit it is refused unread; below it the parser must refuse it.
    expect = {"too_large"} if len(payload) > MAX_BYTES else {"json"}
    return Case(kind, agent, payload, frozenset(expect), f"nesting {depth} in {field}")


@st.composite
def oversized(draw: st.DrawFn, kind: Kind) -> Case:
    agent = draw(agents)
    doc = DOCS[kind](agent)
    doc["padding"] = "x" * draw(st.integers(min_value=MAX_BYTES, max_value=4 * MAX_BYTES))
    return Case(kind, agent, dumps(doc), frozenset({"too_large"}), "oversized")


@st.composite
def bad_utf8(draw: st.DrawFn, kind: Kind) -> Case:
    agent = draw(agents)
    doc = DOCS[kind](agent)
    field = draw(st.sampled_from(REQUIRED[kind]))
    doc[field] = "@@BYTES@@"
    junk = draw(
        st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"])
    )
    payload = dumps(doc).replace(b"@@BYTES@@", b"ok" + junk + b"ok")
    return Case(kind, agent, payload, frozenset({"utf8"}), f"invalid utf-8 {junk!r} in {field}")


@st.composite
def bad_time(draw: st.DrawFn, kind: Kind) -> Case:
    """Milliseconds for seconds, before 2000, after 2100, or days ahead (every topic)."""
    agent = draw(agents)
    now = NOW
    choices = [
        ("ms", now * 1000, "ts_range"),
        ("past", draw(st.floats(min_value=-1e12, max_value=MIN_TS - 1)), "ts_range"),
        ("future", draw(st.floats(min_value=MAX_TS + 1, max_value=1e15)), "ts_range"),
    ]
    ahead = draw(st.floats(min_value=2 * 86_400, max_value=MAX_TS - now - 1))
    choices.append(("days ahead", now + ahead, "ts_future"))
    name, value, reason = draw(st.sampled_from(choices))
    doc = set_path(DOCS[kind](agent), TIMESTAMPS[kind], value)
    return Case(kind, agent, dumps(doc), frozenset({reason}), f"ts {name} {value}")


@st.composite
def mismatched_agent(draw: st.DrawFn, kind: Kind) -> Case:
    agent = draw(agents)
    other = draw(agents.filter(lambda a: a != agent))
    return Case(kind, agent, dumps(DOCS[kind](other)), frozenset({"agent_mismatch"}), other)


@st.composite
def wrong_shape(draw: st.DrawFn, kind: Kind) -> Case:
    """Not an object at all, or a results batch whose columns disagree in length."""
    agent = draw(agents)
    if kind is Kind.RESULTS and draw(st.booleans()):
        doc = DOCS[kind](agent)
        column = draw(st.sampled_from(["ts", "score", "anomaly", "scorer", "label"]))
        doc[column] = doc[column][:-1]
        return Case(kind, agent, dumps(doc), frozenset({"shape"}), f"short {column}")
    junk = draw(st.sampled_from([b"[]", b"1", b'"text"', b"null", b"true", b"", b"{", b"[1,"]))
    return Case(kind, agent, junk, frozenset({"wrong_type", "json"}), f"payload {junk!r}")


@st.composite
def random_bytes(draw: st.DrawFn, kind: Kind) -> Case:
    agent = draw(agents)
    blob = draw(st.binary(max_size=200))
    return Case(kind, agent, blob, KNOWN, "random bytes")


MUTATIONS = (
    non_finite,
    wrong_scalar,
    null_or_missing,
    extra_field,
    deep_nesting,
    oversized,
    bad_utf8,
    bad_time,
    mismatched_agent,
    wrong_shape,
    random_bytes,
)


def cases(kind: Kind) -> st.SearchStrategy[Case]:
    return st.one_of(*(m(kind) for m in MUTATIONS))


# -- the in-process ingest path -----------------------------------------------------------


class AckLog:
    """Where the worker publishes acks (the ``AckSender`` the MQTT link would be)."""

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> object:
        self.acks.append(json.loads(payload))
        return True


class Ingest:
    """The coordinator's real ingest worker on a real SQLite store, driven directly."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.store = SqliteStore(db)
        self.acks = AckLog()
        self.worker = IngestWorker(
            inbox=Inbox(16),
            store=self.store,
            fleet=FleetRegistry(),
            topics=TOPICS,
            limits=LIMITS,
            acks=self.acks,
            metrics=CoordinatorMetrics(),
        )
        self.refused: Counter[str] = Counter()
        self.valid_readings = 0
        self.cases = 0

    def feed(self, case: Case) -> None:
        now = time.time()
        verdict = judge(Inbound(case.topic, case.payload, now), TOPICS, LIMITS)
        assert isinstance(verdict, Refused), f"accepted: {case.label} {case.payload[:200]!r}"
        assert verdict.reason in case.expect, f"{case.label}: refused as {verdict.reason}"
        self.refused[verdict.reason] += 1
        self.cases += 1
        # A valid batch right behind each hostile one: bad input must not block good.
        good = results_doc("good-1", 2, epoch=GOOD_EPOCH, first_seq=self.valid_readings)
        self.worker.process(
            [
                Inbound(case.topic, case.payload, now),
                Inbound(TOPICS.results("good-1"), dumps(good), now),
            ]
        )
        self.valid_readings += 2

    def rows(self, where: str = "1") -> int:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return int(conn.execute(f"SELECT COUNT(*) FROM readings WHERE {where}").fetchone()[0])
        finally:
            conn.close()

    def assert_accounted(self) -> None:
        fleet = self.store.counters().fleet
        assert fleet.rejected == dict(self.refused)
        assert sum(fleet.rejected.values()) == self.cases
        assert fleet.readings_stored == self.valid_readings == self.rows()
        assert self.rows(f"epoch = {BAD_EPOCH}") == 0, "a hostile payload reached the store"
        assert self.rows("agent_id != 'good-1'") == 0
        good = [a for a in self.acks.acks if a["agent_id"] == "good-1"]
        assert len(good) == self.valid_readings // 2
        assert all(a["stored"] == 2 and a["rejected"] is None for a in good)
        assert self.store.agents() == [] or {r.id for r in self.store.agents()} == {"good-1"}


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    path = tmp_path_factory.mktemp("bad-input") / "coordinator.db"
    harness = Ingest(path)
    yield harness
    harness.store.close()


# Examples per kind: 3,500 + 2,500 + 2,500 + 1,500 = 10,000 hostile cases in-process.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "examples"),
    [(Kind.RESULTS, 3500), (Kind.HELLO, 2500), (Kind.HEARTBEAT, 2500), (Kind.STATUS, 1500)],
    ids=lambda v: str(v),
)
def test_hostile_payloads_are_refused_counted_and_never_stored(
    ingest: Ingest, kind: Kind, examples: int
) -> None:
    before = ingest.cases

    @settings(HYPO, max_examples=examples)
    @given(case=cases(kind))
    def run(case: Case) -> None:
        ingest.feed(case)

    run()
    # Hypothesis may stop early once it has exhausted a strategy; these never are small.
    assert ingest.cases - before >= examples * 0.9
    ingest.assert_accounted()


# -- over a real broker, against a real coordinator process --------------------------------


class RawPublisher:
    """A bare paho client: the coordinator must survive whatever it is sent."""

    def __init__(self, broker: MosquittoProcess) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="hostile", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_real_coordinator_survives_hostile_traffic_and_counts_it(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    coord = Coordinator(
        procs,
        mosquitto.url,
        "5",
        tmp_path / "coord",
        extra=("--max-payload-bytes", str(MAX_BYTES)),
    ).start()
    publisher = RawPublisher(mosquitto)
    sent: list[Case] = []
    try:

        @settings(HYPO, max_examples=100)
        @given(kind=st.sampled_from(list(DOCS)), data=st.data())
        def run(kind: Kind, data: st.DataObject) -> None:
            case = data.draw(cases(kind))
            publisher.send(case.topic, case.payload)
            good = results_doc("good-1", 2, epoch=GOOD_EPOCH, first_seq=2 * len(sent))
            publisher.send(TOPICS.results("good-1"), dumps(good))
            sent.append(case)

        # Three rounds of 100, each followed by a health check of the live process.
        for _ in range(3):
            run()
            assert coord.proc is not None and coord.proc.alive
            assert coord.healthy()
    finally:
        publisher.close()
    assert len(sent) >= 250

    def counted() -> bool:
        stats = coord.api("stats")
        return bool(
            sum(stats["rejected"].values()) == len(sent)
            and stats["readings_stored"] == 2 * len(sent)
        )

    wait_until(counted, 30, message="stats never added up")
    stats = coord.api("stats")
    assert set(stats["rejected"]) <= KNOWN
    assert stats["duplicates_dropped"] == 0
    assert coord.stored() == 2 * len(sent)
    conn = sqlite3.connect(f"file:{coord.db}?mode=ro", uri=True)
    try:
        bad = conn.execute("SELECT COUNT(*) FROM readings WHERE epoch = ?", (BAD_EPOCH,))
        assert bad.fetchone()[0] == 0
    finally:
        conn.close()
    assert coord.proc is not None and coord.proc.alive and coord.healthy()
