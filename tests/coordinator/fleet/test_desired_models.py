"""coordinator.fleet.desired_book: model orders in the desired states."""

from __future__ import annotations

import orjson

from edgewatch.coordinator.fleet.desired_book import AgentOrders, DesiredBook
from edgewatch.coordinator.fleet.planner import Plan
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.desired import DesiredState, ModelOrder

EMPTY = Plan({}, {}, {})
ORDER = ModelOrder(version=7, sha256="ab" * 32)


def test_an_agent_with_only_model_orders_gets_a_document() -> None:
    book = DesiredBook({}, clock=ManualClock())
    assert book.build(EMPTY, {}, ["a1"]) == []  # nothing to say yet
    docs = book.build(EMPTY, {}, [], {"a1": AgentOrders({"pump": ORDER})})  # a1 is offline
    assert [d.agent_id for d in docs] == ["a1"]
    doc = DesiredState.model_validate_json(docs[0].document)
    assert doc.models == {"pump": ORDER} and doc.shadow == {}


def test_unused_rollout_fields_stay_off_the_wire() -> None:
    book = DesiredBook({}, clock=ManualClock())
    plain = orjson.loads(
        book.build(EMPTY, {}, [], {"a1": AgentOrders({"pump": ORDER})})[0].document
    )
    assert "shadow" not in plain and plain["models"]["pump"] == {"version": 7, "sha256": "ab" * 32}
    back = ModelOrder(version=6, sha256="cd" * 32, rollback=True)
    clock = ManualClock()
    book = DesiredBook({}, clock=clock)
    raw = book.build(EMPTY, {}, [], {"a1": AgentOrders({"pump": back}, {"fan": ORDER})})[0]
    data = orjson.loads(raw.document)
    assert data["models"]["pump"]["rollback"] is True and data["shadow"]["fan"]["version"] == 7


def test_a_changed_order_is_a_new_generation_the_same_one_is_not() -> None:
    clock = ManualClock()
    book = DesiredBook({}, clock=clock)
    first = book.build(EMPTY, {}, [], {"a1": AgentOrders({"pump": ORDER})})[0]
    clock.advance(1)
    assert book.build(EMPTY, {}, [], {"a1": AgentOrders({"pump": ORDER})}) == []
    again = book.build(EMPTY, {}, [], {})  # no model any more: back to the rules
    assert again[0].generation > first.generation
    assert DesiredState.model_validate_json(again[0].document).models == {}
