"""Fixtures of the conformance suite: ``mq``, a ``Harness`` on the broker under test.

``mq`` wraps the parametrised ``broker`` fixture (tests/conftest.py), so every test in
tests/broker/ runs against the embedded broker and against Mosquitto.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.broker.harness import Harness
from tests.support.mosquitto import BrokerUnderTest


@pytest.fixture
def mq(broker: BrokerUnderTest) -> Iterator[Harness]:
    harness = Harness(broker, f"conformance/{uuid.uuid4().hex[:12]}")
    yield harness
    harness.close()
