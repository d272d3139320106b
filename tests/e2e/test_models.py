"""End to end with models loaded: an agent scoring with ONNX delivers every reading.

Real processes through a real Mosquitto: models trained here (as an operator would with
``edgewatch train``) are put into the agent's ``DATA_DIR/models/``; every reading must
reach the store exactly once and name the model that judged it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from edgewatch.agent.settings import AgentSettings
from edgewatch.agent.sources.fleet_model import SENSOR_TYPES
from edgewatch.agent.sources.simulator import expected_stream
from edgewatch.coordinator.models.export import export_model
from edgewatch.coordinator.models.trainer import TrainConfig, train_batch
from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.readings import SIM_METRICS
from tests.support.edgewatch import AgentRun, Coordinator, ledger
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup

SKAB_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab" / "valve1" / "0.csv"
VERSION = 3


def _scorers(coord: Coordinator, agent_id: str) -> Counter[tuple[str, str]]:
    """(sensor_type, scorer) of every stored reading of ``agent_id``, via the API."""
    seen: Counter[tuple[str, str]] = Counter()
    cursor = None
    while True:
        query = f"readings?agent_id={agent_id}&limit=10000" + (
            f"&cursor={cursor}" if cursor else ""
        )
        page = coord.api(query)
        for r in page["readings"]:
            seen[(r["sensor_type"], r["scorer"])] += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.mosquitto
def test_agent_with_a_model_for_every_simulated_type(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    agent = AgentRun(procs, "m1", mosquitto.url, "5", tmp_path, count=4000, sensors=12, seed=5)
    defaults = AgentSettings()
    history = expected_stream(99, 12, 0, 6000, anomaly_probability=defaults.anomaly_probability)
    models = agent.data_dir / "models"
    models.mkdir(parents=True)
    config = TrainConfig.for_tier("medium", smooth=3)
    for sensor_type in SENSOR_TYPES:
        trained = train_batch(
            history, FeatureSpec(SIM_METRICS), config, sensor_type=sensor_type, version=VERSION
        )
        export_model(trained, models / f"{sensor_type}.onnx")
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    agent.extra = ("--tier", "medium")
    agent.start()
    assert agent.proc is not None and agent.proc.wait(120) == 0, "agent did not drain"
    ledger(coord, [agent]).assert_clean()
    scorers = _scorers(coord, "m1")
    assert sum(scorers.values()) == 4000
    # Every reading was judged by its own type's model, none fell back to the rules.
    assert {scorer for (_, scorer) in scorers} == {f"onnx:{t}@{VERSION}" for t in SENSOR_TYPES}
    assert all(scorer == f"onnx:{t}@{VERSION}" for (t, scorer) in scorers)
    announced = coord.api("agents/m1")["models"]
    assert {t: m["version"] for t, m in announced.items()} == dict.fromkeys(SENSOR_TYPES, VERSION)


@pytest.mark.mosquitto
def test_agent_replaying_skab_with_its_model(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    assert SKAB_FILE.exists(), f"SKAB data missing at {SKAB_FILE}"
    from edgewatch.coordinator.models.trainer import ThresholdPolicy, train_csv

    agent = AgentRun(procs, "skab-1", mosquitto.url, "5", tmp_path, count=0)
    models = agent.data_dir / "models"
    models.mkdir(parents=True)
    # The evaluation's recipe: smoothing over 5 makes the score a column of a matrix,
    # which is what tripped the encoder ("numpy array is not C contiguous").
    config = TrainConfig.for_tier(
        "high", smooth=5, threshold=ThresholdPolicy("quantile", quantile=1.0, margin=0.2)
    )
    trained = train_csv(SKAB_FILE, config, sensor_type="skab", rows=400, version=1)
    export_model(trained, models / "skab.onnx")
    rows = sum(1 for line in SKAB_FILE.read_text().splitlines()[1:] if line.strip())
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    agent.proc = procs.edgewatch(
        "agent",
        "--id",
        agent.agent_id,
        "--broker",
        mosquitto.url,
        "--mqtt-version",
        "5",
        "--data-dir",
        str(agent.data_dir),
        "--source",
        "csv",
        "--csv",
        str(SKAB_FILE),
        "--sensor-type",
        "skab",
        "--csv-time",
        "original",
        "--rate",
        "0",
        "--tier",
        "high",
        "--exit-when-drained",
        name=agent.agent_id,
    )
    assert agent.proc.wait(120) == 0, "agent did not drain"
    assert coord.stored() == rows
    assert _scorers(coord, "skab-1") == Counter({("skab", "onnx:skab@1"): rows})
