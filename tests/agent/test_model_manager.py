"""agent.models.manager: model orders carried out, refused, retried, rolled back, shadowed.

The link is an in-memory retained store (``RetainedTopics``): subscribing hands out the
retained package of the topic, as a broker does. Time is a ``ManualClock``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from edgewatch.agent.models.keys import TrustedKeys
from edgewatch.agent.models.manager import ModelManager
from edgewatch.agent.scorers.rules import RuleScorer
from edgewatch.agent.scorers.tiered import TieredScorer
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.desired import ModelOrder
from edgewatch.shared.signing import SignKey
from edgewatch.shared.topics import Topics
from tests.support.models import history, model_bytes, package, sign

KEY = SignKey.generate()
TOPICS = Topics()


@dataclass
class RetainedTopics:
    """Retained payloads by topic; ``subscribe_model`` queues the topic's payload."""

    retained: dict[str, bytes] = field(default_factory=dict)
    subscribed: set[str] = field(default_factory=set)
    subscribes: int = 0
    inbox: list[tuple[str, bytes]] = field(default_factory=list)

    def subscribe_model(self, topic: str) -> None:
        self.subscribed.add(topic)
        self.subscribes += 1
        if topic in self.retained:
            self.inbox.append((topic, self.retained[topic]))

    def unsubscribe_model(self, topic: str) -> None:
        self.subscribed.discard(topic)

    def publish(self, topic: str, payload: bytes) -> None:
        self.retained[topic] = payload
        if topic in self.subscribed:
            self.inbox.append((topic, payload))

    def deliver(self, manager: ModelManager) -> int:
        n = 0
        while self.inbox:
            manager.receive(*self.inbox.pop(0))
            n += 1
        return n


def order(sensor_type: str, version: int, *, rollback: bool = False) -> ModelOrder:
    sha = hashlib.sha256(model_bytes(sensor_type, version)).hexdigest()
    return ModelOrder(version=version, sha256=sha, rollback=rollback)


def publish_model(
    link: RetainedTopics, sensor_type: str, version: int, *, signed: bool = True
) -> None:
    data = model_bytes(sensor_type, version)
    signature = sign(KEY, sensor_type, version, data) if signed else None
    link.publish(TOPICS.model(sensor_type, version), package(data, sensor_type, version, signature))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def make(tmp_path: Path, link: RetainedTopics, clock: ManualClock) -> ModelManager:
    manager = ModelManager(
        TieredScorer(RuleScorer()),
        data_dir=tmp_path,
        keys=TrustedKeys([KEY.public]),
        topics=TOPICS,
        link=link,
        clock=clock,
    )
    manager.start()
    return manager


def running(manager: ModelManager) -> dict[str, int]:
    assert manager.scorer is not None
    return {t: m.version for t, m in manager.scorer.models().items()}


def test_an_order_is_fetched_verified_stored_and_swapped_in(
    tmp_path: Path, clock: ManualClock
) -> None:
    link = RetainedTopics()
    publish_model(link, "industrial", 5)
    manager = make(tmp_path, link, clock)
    manager.apply({"industrial": order("industrial", 5)}, {})
    assert link.deliver(manager) == 1
    assert running(manager) == {"industrial": 5}
    assert link.subscribed == set()  # done: no longer listening
    assert manager.refused == {} and manager.problems() == []
    # Every result of that type now names it.
    assert manager.scorer is not None
    scores = manager.scorer.score(history().take(np.arange(0, 48)))
    types = history().take(np.arange(0, 48)).sensor_type
    assert {s for s, t in zip(scores.scorer, types, strict=True) if t == "industrial"} == {
        "onnx:industrial@5"
    }
    # After a restart it runs the same file again, without fetching.
    again = make(tmp_path, RetainedTopics(), clock)
    assert running(again) == {"industrial": 5}


def test_a_refused_package_is_counted_reported_and_retried_with_backoff(
    tmp_path: Path, clock: ManualClock
) -> None:
    link = RetainedTopics()
    publish_model(link, "industrial", 5, signed=False)
    manager = make(tmp_path, link, clock)
    manager.apply({"industrial": order("industrial", 5)}, {})
    link.deliver(manager)
    assert running(manager) == {} and manager.refused == {"unsigned": 1}
    assert manager.problems() == [
        "refused model industrial@5 (unsigned): the package has no signature"
    ]
    subscribes = link.subscribes
    manager.tick()
    clock.advance(59)
    manager.tick()
    assert link.subscribes == subscribes  # no tight loop: nothing before the backoff
    clock.advance(2)
    manager.tick()
    link.deliver(manager)
    assert manager.refused == {"unsigned": 2}  # re-fetched once, refused again
    clock.advance(61)
    manager.tick()
    assert link.subscribes == subscribes + 1  # the backoff doubled: 120 s now
    # The coordinator publishes a good package: it arrives by itself and is taken.
    publish_model(link, "industrial", 5)
    link.deliver(manager)
    assert running(manager) == {"industrial": 5} and manager.problems() == []


def test_an_older_version_needs_a_rollback_order_and_comes_from_disk(
    tmp_path: Path, clock: ManualClock
) -> None:
    link = RetainedTopics()
    for v in (5, 6):
        publish_model(link, "industrial", v)
    manager = make(tmp_path, link, clock)
    manager.apply({"industrial": order("industrial", 5)}, {})
    link.deliver(manager)
    manager.apply({"industrial": order("industrial", 6)}, {})
    link.deliver(manager)
    assert running(manager) == {"industrial": 6}
    for _ in range(3):  # the same order, applied again and again: refused and counted once
        manager.apply({"industrial": order("industrial", 5)}, {})
    assert running(manager) == {"industrial": 6} and manager.refused == {"older": 1}
    link.retained.clear()  # the previous version is kept on disk: no download needed
    manager.apply({"industrial": order("industrial", 5, rollback=True)}, {})
    assert running(manager) == {"industrial": 5} and link.subscribed == set()


def test_a_type_no_longer_ordered_goes_back_to_the_rules(
    tmp_path: Path, clock: ManualClock
) -> None:
    link = RetainedTopics()
    publish_model(link, "industrial", 5)
    manager = make(tmp_path, link, clock)
    manager.apply({"industrial": order("industrial", 5)}, {})
    link.deliver(manager)
    manager.apply({}, {})
    assert running(manager) == {}
    assert make(tmp_path, RetainedTopics(), clock).scorer is not None
    assert running(make(tmp_path, RetainedTopics(), clock)) == {}  # forgotten at restart too


def test_a_shadow_model_scores_beside_the_deciding_one(tmp_path: Path, clock: ManualClock) -> None:
    link = RetainedTopics()
    publish_model(link, "industrial", 7)
    manager = make(tmp_path, link, clock)
    manager.apply({}, {"industrial": order("industrial", 7)})
    link.deliver(manager)
    assert running(manager) == {}  # the rules still decide
    assert manager.scorer is not None
    batch = history().take(np.arange(0, 400))
    scores = manager.scorer.score(batch)
    assert set(scores.scorer) == {"rules"}
    report = manager.shadow_reports()["industrial"]
    industrial = sum(1 for t in batch.sensor_type if t == "industrial")
    assert report.version == 7 and report.readings == industrial
    live = int(
        sum(a for a, t in zip(scores.anomaly, batch.sensor_type, strict=True) if t == "industrial")
    )
    assert report.live_anomalies == live
    manager.apply({}, {})
    assert manager.shadow_reports() == {}


def test_a_new_key_resubscribes_what_is_pending(tmp_path: Path, clock: ManualClock) -> None:
    from edgewatch.shared.codec import encode
    from edgewatch.shared.modelpack import EndorsedKey, KeyChain
    from edgewatch.shared.signing import encode_signature, key_statement

    link = RetainedTopics()
    new = SignKey.generate()
    data = model_bytes("industrial", 5)
    # Signed by the next key, which the agent does not trust yet.
    link.publish(
        TOPICS.model("industrial", 5),
        package(data, "industrial", 5, sign(new, "industrial", 5, data)),
    )
    manager = make(tmp_path, link, clock)
    manager.apply({"industrial": order("industrial", 5)}, {})
    link.deliver(manager)
    assert manager.refused == {"wrong_key": 1}
    endorsement = encode_signature(KEY.sign(key_statement(new.public.key_id, new.public.pem)))
    chain = KeyChain(
        keys=[
            EndorsedKey(key_id=KEY.public.key_id, public_key=KEY.public.pem, created_at=1.8e9),
            EndorsedKey(
                key_id=new.public.key_id,
                public_key=new.public.pem,
                created_at=1.8e9,
                endorsed_by=KEY.public.key_id,
                endorsement=endorsement,
            ),
        ]
    )
    manager.receive_keys(encode(chain))
    link.deliver(manager)
    assert running(manager) == {"industrial": 5} and manager.key_id() == new.public.key_id


def test_without_onnx_tier_orders_are_refused_not_crashed(
    tmp_path: Path, clock: ManualClock
) -> None:
    link = RetainedTopics()
    manager = ModelManager(
        None, data_dir=tmp_path, keys=None, topics=TOPICS, link=link, clock=clock
    )
    manager.apply({"industrial": order("industrial", 5)}, {})
    assert manager.refused == {"no_onnx": 1} and link.subscribed == set()
