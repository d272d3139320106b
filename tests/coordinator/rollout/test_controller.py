"""coordinator.rollout.controller: staged rollouts on a manual clock, a real store, and a
fleet given as views (what the agents report)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from edgewatch.coordinator.models.errors import Conflict, Refused
from edgewatch.coordinator.rollout.controller import RolloutController, RolloutSettings
from edgewatch.coordinator.rollout.fleet_view import AgentView, StaticFleet
from edgewatch.coordinator.rollout.gate import GateSettings
from edgewatch.coordinator.store import SqliteStore
from edgewatch.coordinator.store.model_records import ModelRecord, VerdictCounts
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.modelpack import refusal_note
from edgewatch.shared.schemas import ModelRef, ReportedState, ShadowReport
from edgewatch.shared.signing import SignKey
from tests.support.models import new_model

KEY = SignKey.generate()
AGENTS = ("a1", "a2", "a3", "a4")
GATE = GateSettings(soak_s=600, min_readings=200, ready_timeout_s=300)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "c.db")
    yield s
    s.close()


class World:
    def __init__(self, store: SqliteStore, *, active: bool = True) -> None:
        self.store = store
        self.clock = ManualClock(wall=1_800_000_000.0)
        self.fleet = StaticFleet([])
        self.changes = 0
        self.controller = RolloutController(
            store,
            self.fleet,
            RolloutSettings(gate=GATE),
            clock=self.clock,
            on_change=self._changed,
        )
        self.old: ModelRecord | None = None
        if active:
            self.old = store.add_model(new_model(KEY, "pump", 10))
            first = self.controller.start(self.old.id, "100%")
            assert first.state == "promoted"
        self.new = store.add_model(new_model(KEY, "pump", 12))
        self.report({a: self.old for a in AGENTS} if self.old else {})

    def _changed(self) -> None:
        self.changes += 1

    def report(self, running: dict[str, ModelRecord | None], **extra: ReportedState) -> None:
        views = []
        for a in AGENTS:
            m = running.get(a)
            refs = {} if m is None else {"pump": ModelRef(version=m.version, sha256=m.sha256)}
            views.append(AgentView(a, "medium", True, frozenset({"pump"}), refs, extra.get(a)))
        self.fleet.views = views

    def verdicts(self, agent: str, scorer: str, readings: int, anomalies: int) -> None:
        counts = VerdictCounts(
            agent, "pump", scorer, readings, anomalies, bucket=self.clock.time() + 10
        )
        self.store.apply_rescoring([], [counts], "test", 0, 0.0)

    def kinds(self, rollout_id: int) -> list[str]:
        return [e.kind for e in self.store.rollout_events(0, 100, rollout_id)]

    def status(self, m: ModelRecord) -> str:
        found = self.store.model(m.id)
        assert found is not None
        return found.status

    def live(self, agent: str) -> tuple[int, bool] | None:
        orders = self.controller.orders().get(agent)
        if orders is None or "pump" not in orders.live:
            return None
        o = orders.live["pump"]
        return o.version, o.rollback


def soak(w: World, canary: str = "a2") -> int:
    r = w.controller.start(w.new.id, canary)
    assert (r.state, r.canary) == ("canary", (canary,))
    assert w.live(canary) == (12, False) and w.live("a1") == (10, False)
    w.controller.tick()
    assert w.store.rollout(r.id).state == "canary"  # type: ignore[union-attr]
    running = {a: w.old for a in AGENTS} | {canary: w.new}
    w.report(running)
    w.controller.tick()
    assert w.store.rollout(r.id).state == "soaking"  # type: ignore[union-attr]
    return r.id


def test_a_good_canary_is_promoted_after_the_soak(store: SqliteStore) -> None:
    w = World(store)
    rid = soak(w)
    w.verdicts("a2", "onnx:pump@12", 1000, 10)
    for a in ("a1", "a3", "a4"):
        w.verdicts(a, "onnx:pump@10", 1000, 12)
    w.clock.advance(599)
    w.controller.tick()
    assert w.store.rollout(rid).state == "soaking"  # type: ignore[union-attr]
    assert w.controller.last_gate[rid].decision == "wait"
    w.clock.advance(1)
    w.controller.tick()
    done = w.store.rollout(rid)
    assert done is not None and done.state == "promoted"
    assert (w.status(w.new), w.status(w.old)) == ("active", "retired")  # type: ignore[arg-type]
    assert all(w.live(a) == (12, False) for a in AGENTS)
    promoted = w.store.rollout_events(0, 100, rid)[-1]
    assert promoted.reason == "quality gate passed"
    assert promoted.figures["baseline"] == "other agents on onnx:pump@10"
    w.report({a: w.new for a in AGENTS})
    w.controller.tick()
    assert w.kinds(rid) == ["started", "soaking", "promoted", "completed"]


def test_a_canary_far_off_is_rolled_back_and_its_agents_go_back(store: SqliteStore) -> None:
    w = World(store)
    rid = soak(w)
    w.verdicts("a2", "onnx:pump@12", 1000, 300)
    for a in ("a1", "a3", "a4"):
        w.verdicts(a, "onnx:pump@10", 1000, 10)
    w.clock.advance(600)
    w.controller.tick()
    r = w.store.rollout(rid)
    assert r is not None and r.state == "rolled_back" and "30.00x the baseline" in r.reason
    assert (w.status(w.new), w.status(w.old)) == ("rolled_back", "active")  # type: ignore[arg-type]
    # Back to the active model, explicitly allowed to be older than what a2 runs now.
    assert w.live("a2") == (10, True)
    assert w.kinds(rid) == ["started", "soaking", "rolled_back"]


def test_with_too_few_baseline_agents_the_canaries_own_past_is_the_baseline(
    store: SqliteStore,
) -> None:
    w = World(store)
    w.verdicts("a2", "onnx:pump@10", 1000, 10)  # a2 on the old model, before the rollout
    w.clock.advance(60)
    rid = soak(w)
    w.verdicts("a2", "onnx:pump@12", 1000, 11)
    w.clock.advance(600)
    w.controller.tick()
    event = w.store.rollout_events(0, 100, rid)[-1]
    assert event.kind == "promoted"
    assert event.figures["baseline"] == "canaries on onnx:pump@10 before the rollout"


def test_a_first_model_is_held_to_its_held_back_evaluation(store: SqliteStore) -> None:
    w = World(store, active=False)  # the rules judged pump so far
    r = w.controller.start(w.new.id, "a2")
    w.report({"a2": w.new})
    w.controller.tick()
    w.verdicts("a2", "onnx:pump@12", 1000, 200)  # evaluated at 1 %: live 20 %
    w.clock.advance(600)
    w.controller.tick()
    event = w.store.rollout_events(0, 100, r.id)[-1]
    assert event.kind == "rolled_back"
    assert event.figures["baseline"] == "the candidate's held-back evaluation"
    assert w.live("a2") is None  # back to the rules


def test_a_refusal_or_a_scoring_error_rolls_back_at_once(store: SqliteStore) -> None:
    w = World(store)
    r = w.controller.start(w.new.id, "a2")
    note = refusal_note("pump", 12, "bad_signature", "does not verify")
    w.report({a: w.old for a in AGENTS}, a2=ReportedState(generation=1, errors=[note]))
    w.controller.tick()
    done = w.store.rollout(r.id)
    assert done is not None and done.state == "rolled_back" and "bad_signature" in done.reason

    fresh = store.add_model(new_model(KEY, "pump", 13))
    again = w.controller.start(fresh.id, "a3")
    ref = ModelRef(version=13, sha256=fresh.sha256)
    ok = ReportedState(generation=1, model_errors={"pump": 4})
    w.fleet.views = [
        replace(v, running={"pump": ref}, reported=ok) if v.agent_id == "a3" else v
        for v in w.fleet.views
    ]
    w.controller.tick()  # soaking; 4 errors so far are the base
    assert w.store.rollout(again.id).state == "soaking"  # type: ignore[union-attr]
    worse = ReportedState(generation=1, model_errors={"pump": 5})
    w.fleet.views = [replace(v, reported=worse) if v.agent_id == "a3" else v for v in w.fleet.views]
    w.controller.tick()
    gone = w.store.rollout(again.id)
    assert gone is not None and gone.state == "rolled_back" and "1 scoring error" in gone.reason


def test_canaries_that_never_load_the_model_end_the_rollout(store: SqliteStore) -> None:
    w = World(store)
    r = w.controller.start(w.new.id, "a2")
    w.clock.advance(300)
    w.controller.tick()
    assert w.store.rollout(r.id).state == "canary"  # type: ignore[union-attr]
    w.clock.advance(1)
    w.controller.tick()
    done = w.store.rollout(r.id)
    assert done is not None and done.state == "rolled_back"
    assert done.reason.startswith("no canary ran the model within 301 s")


def test_a_shadow_canary_is_judged_on_the_same_readings(store: SqliteStore) -> None:
    w = World(store)
    r = w.controller.start(w.new.id, "a2", shadow=True)
    orders = w.controller.orders()["a2"]
    assert orders.live["pump"].version == 10 and orders.shadow["pump"].version == 12
    report = ShadowReport(
        version=12, readings=1000, anomalies=14, live_anomalies=10, disagreements=6
    )
    w.report({a: w.old for a in AGENTS}, a2=ReportedState(generation=1, shadow={"pump": report}))
    w.controller.tick()
    w.clock.advance(600)
    w.controller.tick()
    event = w.store.rollout_events(0, 100, r.id)[-1]
    assert event.kind == "promoted" and event.figures["canary_anomaly_rate"] == 0.014


def test_operators_decide_by_hand_and_conflicts_are_refused(store: SqliteStore) -> None:
    w = World(store)
    with pytest.raises(Refused):
        w.controller.start(w.new.id, "100%", shadow=True)
    with pytest.raises(Conflict, match="active already"):
        w.controller.start(w.old.id, "10%")  # type: ignore[union-attr]
    r = w.controller.start(w.new.id, "a2")
    other = store.add_model(new_model(KEY, "pump", 14))
    with pytest.raises(Conflict, match="still running"):
        w.controller.start(other.id, "a3")
    w.controller.promote(r.id, "looks good")
    assert w.status(w.new) == "active"
    with pytest.raises(Conflict):
        w.controller.promote(r.id)
    back = w.controller.rollback(r.id, "false alarms on line 2")
    assert back.reason == "false alarms on line 2"
    assert (w.status(w.new), w.status(w.old)) == ("rolled_back", "active")  # type: ignore[arg-type]
    assert all(w.live(a) == (10, True) for a in AGENTS)
    later = w.controller.start(other.id, "100%")
    assert later.state == "promoted"
    first = store.rollouts()[-1]
    with pytest.raises(Conflict, match="not active any more"):
        w.controller.rollback(first.id)
    assert w.changes > 0


def test_a_canary_that_moves_to_another_tier_ends_the_rollout(store: SqliteStore) -> None:
    w = World(store)
    r = w.controller.start(w.new.id, "a2")
    # a2 turns out to be a high agent, and a high model of the type is active: it runs that.
    high = store.add_model(new_model(KEY, "pump", 20, tier="high"))
    store.commit_rollout(
        replace(r, id=0, model_id=high.id, tier="high", state="promoted"), {high.id: "active"}, []
    )
    w.fleet.views = [replace(v, tier="high") if v.agent_id == "a2" else v for v in w.fleet.views]
    w.controller.tick()
    done = w.store.rollout(r.id)
    assert done is not None and done.state == "rolled_back"
    assert done.reason == "no canary runs medium models of pump any more"


def test_a_first_model_is_not_judged_by_agreement_with_another_candidate(
    store: SqliteStore,
) -> None:
    w = World(store, active=False)
    r = w.controller.start(w.new.id, "a2")
    w.report({"a2": w.new})
    w.controller.tick()
    counts = VerdictCounts(
        "a2", "pump", "onnx:pump@12", 1000, 10, 100, 10, 90, bucket=w.clock.time() + 10
    )
    w.store.apply_rescoring([], [counts], "test", 0, 0.0)
    w.clock.advance(600)
    w.controller.tick()
    event = w.store.rollout_events(0, 100, r.id)[-1]
    assert event.kind == "promoted" and event.figures["agreement"] is None


def test_an_operator_decision_clears_a_waiting_gate_from_the_api_view(store: SqliteStore) -> None:
    from edgewatch.coordinator.api.routes.rollouts import rollout_out

    w = World(store)
    rid = soak(w)
    w.controller.tick()
    soaking = w.store.rollout(rid)
    assert soaking is not None and w.controller.last_gate[rid].decision == "wait"
    shown = rollout_out(soaking, store, w.controller).gate
    assert shown is not None and shown.decision == "wait"
    w.controller.promote(rid)
    done = w.store.rollout(rid)
    assert done is not None and done.state == "promoted"
    assert rollout_out(done, store, w.controller).gate is None  # no "still soaking"
