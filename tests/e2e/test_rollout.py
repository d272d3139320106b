"""Models that improve themselves, end to end: real Mosquitto, coordinator and agents.

Agents fill the store; the coordinator trains from it, signs, pushes; agents verify,
swap without a restart and report; an agent that was away converges when it returns; a
hot swap under a steady stream loses, doubles and mis-attributes nothing; a canary far
off is rolled back by the quality gate.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.store import SqliteStore
from edgewatch.shared.signing import SignKey
from tests.support.edgewatch import AgentRun, Coordinator, ledger
from tests.support.models import new_model
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup, wait_until

TYPE = "medical"  # half of the simulated fleet's first 12 sensors: data comes fast


def coordinator(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp: Path, *extra: str
) -> Coordinator:
    coord = Coordinator(
        procs,
        mosquitto.url,
        "5",
        tmp / "coord",
        extra=("--train-min-rows", "300", "--agent-timeout-s", "5", *extra),
    )
    coord.start()
    key = SignKey.from_pem((coord.db.parent / "model-signing.key").read_bytes())
    (tmp / "pub.pem").write_text(key.public.pem)
    return coord


def agent(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp: Path, agent_id: str, **kw: Any
) -> AgentRun:
    run = AgentRun(procs, agent_id, mosquitto.url, "5", tmp, **kw)
    run.extra = ("--tier", "medium", "--model-pubkey", str(tmp / "pub.pem"))
    return run


def version_of(coord: Coordinator, agent_id: str, sensor_type: str = TYPE) -> int | None:
    found = coord.api(f"agents/{agent_id}")["models"].get(sensor_type)
    return None if found is None else int(found["version"])


def scorers(db: Path, agent_id: str, sensor_type: str = TYPE) -> list[str]:
    """The scorer of every stored reading of the type, in the agent's seq order."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT scorer FROM readings WHERE agent_id = ? AND sensor_type = ? "
            "ORDER BY epoch, seq",
            (agent_id, sensor_type),
        )
        return [r[0] for r in rows]


@pytest.mark.mosquitto
def test_trained_from_the_fleet_pushed_to_all_and_to_one_that_was_away(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    coord = coordinator(procs, mosquitto, tmp_path)
    fleet = [
        agent(procs, mosquitto, tmp_path, a, count=10**6, rate=300.0) for a in ("p1", "p2", "p3")
    ]
    for a in fleet:
        a.start()
    wait_until(lambda: coord.stored() > 3000, 60, message="the fleet filled no store")
    assert fleet[2].proc is not None and fleet[2].proc.terminate() == 0  # p3 is away
    model = coord.post("models/train", {"sensor_type": TYPE, "tier": "medium"})
    assert model["training"]["source"] == "store" and set(model["training"]["agents"]) >= {
        "p1",
        "p2",
    }
    rollout = coord.post("rollouts", {"model_id": model["id"], "canary": "100%"})
    assert rollout["state"] == "promoted"
    wait_until(
        lambda: all(version_of(coord, a) == model["version"] for a in ("p1", "p2")),
        20,
        message="p1 and p2 did not report the new model",
    )
    name = f"onnx:{TYPE}@{model['version']}"
    wait_until(lambda: name in scorers(coord.db, "p1")[-20:], 20, message="no result names it")
    fleet[2].start()  # back: its retained desired state and the retained package await it
    wait_until(
        lambda: version_of(coord, "p3") == model["version"], 30, message="p3 never converged"
    )
    for a in ("p1", "p2", "p3"):
        listed = coord.api(f"agents/{a}")
        assert listed["converged"] and listed["reported"]["models_refused"] == {}
        assert listed["reported"]["model_key"] == model["key_id"]
    events = coord.api("rollouts")[0]["events"]
    wait_until(
        lambda: coord.api("rollouts")[0]["completed_at"] is not None, 20, message="not completed"
    )
    assert [e["kind"] for e in events][:2] == ["started", "promoted"]


@pytest.mark.mosquitto
@pytest.mark.slow
def test_a_hot_swap_under_a_steady_stream_loses_doubles_and_misattributes_nothing(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    coord = coordinator(procs, mosquitto, tmp_path)
    run = agent(procs, mosquitto, tmp_path, "s1", count=60_000, rate=2000.0, sensors=12, seed=21)
    run.start()
    versions = []
    for _ in range(2):  # two swaps while readings flow
        wait_until(lambda: coord.stored() > 4000 * (len(versions) + 1), 60, message="no progress")
        model = coord.post("models/train", {"sensor_type": TYPE, "tier": "medium"})
        coord.post("rollouts", {"model_id": model["id"], "canary": "100%"})
        wait_until(lambda m=model: version_of(coord, "s1") == m["version"], 20, message="no swap")
        versions.append(model["version"])
    assert run.proc is not None and run.proc.wait(120) == 0, "the agent did not drain"
    ledger(coord, [run]).assert_clean()
    seen = scorers(coord.db, "s1")
    names = ["rules", *(f"onnx:{TYPE}@{v}" for v in versions)]
    assert set(seen) == set(names)
    # Monotone: once a version judged a reading, no earlier one judges a later reading.
    order = [names.index(s) for s in seen]
    assert order == sorted(order)
    others = {
        s for t in ("industrial", "environmental", "automotive") for s in scorers(coord.db, "s1", t)
    }
    assert others == {"rules"}


@pytest.mark.mosquitto
@pytest.mark.slow
def test_a_canary_far_off_is_rolled_back_by_the_gate(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    coord = coordinator(
        procs, mosquitto, tmp_path, "--gate-soak-s", "6", "--gate-min-readings", "100"
    )
    fleet = [
        agent(procs, mosquitto, tmp_path, a, count=10**6, rate=300.0) for a in ("g1", "g2", "g3")
    ]
    for a in fleet:
        a.start()
    wait_until(lambda: coord.stored() > 3000, 60, message="the fleet filled no store")
    good = coord.post("models/train", {"sensor_type": TYPE, "tier": "medium"})
    coord.post("rollouts", {"model_id": good["id"], "canary": "100%"})
    wait_until(
        lambda: all(version_of(coord, a.agent_id) == good["version"] for a in fleet),
        20,
        message="the good model did not reach every agent",
    )
    # A model whose threshold sits inside the training scores: it flags ~half of all readings.
    store = SqliteStore(coord.db)
    try:
        keyring = Keyring.open(store, coord.db.parent / "model-signing.key")
        key = SignKey.from_pem(keyring.path.read_bytes())
        bad = store.add_model(new_model(key, TYPE, good["version"] + 1, quantile=0.5))
    finally:
        store.close()
    started = coord.post("rollouts", {"model_id": bad.id, "canary": "g2"})
    assert started["state"] == "canary"

    def state() -> str:
        return str(coord.api(f"rollouts/{started['id']}")["state"])

    wait_until(lambda: state() == "rolled_back", 60, message="the gate did not roll it back")
    rolled = coord.api(f"rollouts/{started['id']}")
    assert "anomaly rate" in rolled["reason"], rolled
    assert [e["kind"] for e in rolled["events"]] == ["started", "soaking", "rolled_back"]
    wait_until(lambda: version_of(coord, "g2") == good["version"], 20, message="g2 did not go back")
    assert coord.api(f"models/{bad.id}")["status"] == "rolled_back"
    assert coord.api("agents/g2")["reported"]["models_refused"] == {}
