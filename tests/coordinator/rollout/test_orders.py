"""coordinator.rollout.orders and canary: who runs which model, who is a canary."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edgewatch.coordinator.models.errors import Refused
from edgewatch.coordinator.rollout.canary import choose, parse_spec
from edgewatch.coordinator.rollout.fleet_view import AgentView
from edgewatch.coordinator.rollout.orders import plan_orders, targets, tiers_for
from edgewatch.coordinator.store.model_records import (
    ModelRecord,
    ModelStatus,
    Rollout,
    TrainingInfo,
)

INFO = TrainingInfo("store", 1, 0, 1, (), None, None, "iforest", 50, 0.1)


def model(
    mid: int, version: int, status: ModelStatus, tier: str = "medium", t: str = "pump"
) -> ModelRecord:
    return ModelRecord(
        mid,
        t,
        tier,
        version,
        f"{mid:064x}",
        1,
        0.0,
        status,
        0.0,
        INFO,
        None,
        "k" * 16,
        "s",  # type: ignore[arg-type]
    )


def agent(
    aid: str, tier: str = "medium", types: tuple[str, ...] = ("pump",), online: bool = True
) -> AgentView:
    return AgentView(aid, tier, online, frozenset(types))


def rollout(
    mid: int, canary: tuple[str, ...], *, shadow: bool = False, tier: str = "medium"
) -> Rollout:
    return Rollout(0, mid, "pump", tier, "soaking", "x", canary, shadow, None, 0.0)  # type: ignore[arg-type]


def test_tiers_an_agent_can_run() -> None:
    assert tiers_for("low") == [] and tiers_for("medium") == ["medium"]
    assert tiers_for("high") == ["high", "medium"] and tiers_for("weird") == []


def test_the_active_model_goes_to_agents_that_handle_its_type() -> None:
    views = [agent("a1"), agent("a2", types=("fan",)), agent("a3", tier="low"), agent("a4", "high")]
    orders = plan_orders(views, [model(1, 10, "active")], [])
    assert set(orders) == {"a1", "a4"}
    assert orders["a1"].live["pump"].version == 10 and not orders["a1"].shadow
    assert not orders["a1"].live["pump"].rollback


def test_a_high_agent_prefers_the_high_model() -> None:
    models = [model(1, 10, "active"), model(2, 11, "active", tier="high")]
    orders = plan_orders([agent("m", "medium"), agent("h", "high")], models, [])
    assert orders["m"].live["pump"].version == 10 and orders["h"].live["pump"].version == 11


def test_canaries_run_the_candidate_the_others_the_active_one() -> None:
    models = [model(1, 10, "active"), model(2, 12, "canary")]
    views = [agent("a1"), agent("a2"), agent("a3")]
    orders = plan_orders(views, models, [rollout(2, ("a2",))])
    assert [orders[a].live["pump"].version for a in ("a1", "a2", "a3")] == [10, 12, 10]
    shadow = plan_orders(views, models, [rollout(2, ("a2",), shadow=True)])
    assert shadow["a2"].live["pump"].version == 10 and shadow["a2"].shadow["pump"].version == 12
    assert not shadow["a1"].shadow


def test_without_an_active_model_non_canaries_keep_the_rules() -> None:
    orders = plan_orders(
        [agent("a1"), agent("a2")], [model(2, 12, "canary")], [rollout(2, ("a2",))]
    )
    assert set(orders) == {"a2"}


def test_a_rollback_order_lets_agents_go_back() -> None:
    models = [model(1, 10, "active"), model(2, 12, "rolled_back")]
    orders = plan_orders([agent("a1")], models, [])
    assert orders["a1"].live["pump"].version == 10 and orders["a1"].live["pump"].rollback
    fresh = plan_orders([agent("a1")], [model(1, 10, "active"), model(3, 14, "candidate")], [])
    assert not fresh["a1"].live["pump"].rollback  # a candidate never went out


def test_targets_are_agents_that_would_run_the_tier() -> None:
    views = [agent("m"), agent("h", "high"), agent("l", "low"), agent("f", types=("fan",))]
    assert [v.agent_id for v in targets(views, "pump", "medium", [])] == ["m", "h"]
    # A high agent with an active high model does not take a medium one.
    high = [model(5, 20, "active", tier="high")]
    assert [v.agent_id for v in targets(views, "pump", "medium", high)] == ["m"]
    assert [v.agent_id for v in targets(views, "pump", "high", [])] == ["h"]


def test_canary_specs() -> None:
    assert parse_spec("10%") == pytest.approx(0.1) and parse_spec("100%") == 1.0
    assert parse_spec("all") == 1.0 and parse_spec("pi-1, pi-2") == ["pi-1", "pi-2"]
    for bad in ("0%", "150%", "", "pi/1", "a b"):
        with pytest.raises(Refused):
            parse_spec(bad)


def test_a_share_of_the_online_targets_chosen_stably() -> None:
    views = [agent(f"a{i:02d}") for i in range(20)] + [agent("off", online=False)]
    ten = choose("10%", 7, views)
    assert len(ten.agents) == 2 and not ten.everyone and "off" not in ten.agents
    assert choose("10%", 7, views) == ten
    assert choose("10%", 8, views) != ten  # another model: other canaries, likely
    assert len(choose("1%", 7, views).agents) == 1
    assert choose("100%", 7, views).everyone
    assert choose("a03,a01", 7, views).agents == ("a01", "a03")
    with pytest.raises(Refused, match="zz cannot run this model"):
        choose("a01,zz", 7, views)
    with pytest.raises(Refused, match="no online agent"):
        choose("10%", 7, [replace(v, online=False) for v in views])
