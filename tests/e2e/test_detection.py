"""End to end, detection: the verdicts an agent delivers are the evaluation's verdicts.

One SKAB file is replayed by a real ``edgewatch agent`` process (CSV replay, file times)
with the model ``edgewatch eval skab`` trains for it (the fixed recipe: PCA with its
univariate part on rolling features, a static threshold), through a real Mosquitto into a
real coordinator. The verdicts stored for every reading must equal, reading by reading,
those the evaluation computes for the same file in-process: the evaluation measures what
the product does. One NAB file does the same with ``edgewatch eval nab``'s model (the
nearest-neighbour detector over lags, the clipped streaming threshold).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgewatch.coordinator.evaluation import nab
from edgewatch.coordinator.evaluation.nab_scoring import probation_length
from edgewatch.coordinator.evaluation.recipe import NAB_RECIPE
from edgewatch.coordinator.evaluation.skab import EvalConfig, predict_ours, stream
from edgewatch.coordinator.models.export import export_model, to_onnx
from edgewatch.coordinator.models.trainer import TrainedModel, train_table
from edgewatch.shared.csvfile import read_csv
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.runtime import OnnxScorer
from tests.support.edgewatch import AgentRun, Coordinator
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup

SENSOR_TYPE = "replayed"  # one type for both files: what the agent is told and the model judges
DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SKAB_FILE = DATA / "skab" / "valve1" / "1.csv"
NAB_FILE = DATA / "nab" / "realTraffic" / "speed_7578.csv"


def skab_case(path: Path) -> tuple[TrainedModel, np.ndarray]:
    """The model ``edgewatch eval skab`` trains for ``path`` and its verdicts on it."""
    config = EvalConfig()
    table = read_csv(path)
    expected, parity = predict_ours(table, config)
    assert parity.label_mismatches == 0
    recipe = config.recipe
    trained = train_table(
        table,
        recipe.train_config(),
        sensor_type=SENSOR_TYPE,
        spec=recipe.spec(table.metric_names),
        rows=config.train_rows,
        version=1,
    )
    return trained, expected


def nab_case(path: Path) -> tuple[TrainedModel, np.ndarray]:
    """``edgewatch eval nab``'s model for ``path`` and its verdicts on every record.

    The evaluation warms the scorer with the probationary records instead of judging
    them; an agent replaying the file judges every record, so here every record is."""
    table = read_csv(path)
    trained = train_table(
        table,
        NAB_RECIPE.train_config(),
        sensor_type=SENSOR_TYPE,
        spec=NAB_RECIPE.spec(table.metric_names),
        rows=probation_length(len(table)),
        version=1,
    )
    scorer = OnnxScorer(read_model_bytes(to_onnx(trained).SerializeToString()))
    return trained, stream(scorer, table.to_batch(SENSOR_TYPE), nab.BATCH)


def stored(coord: Coordinator, agent_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"readings?agent_id={agent_id}&limit=10000" + (
            f"&cursor={cursor}" if cursor else ""
        )
        page = coord.api(query)
        rows.extend(page["readings"])
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


@pytest.mark.mosquitto
@pytest.mark.parametrize(
    ("path", "case", "detector"),
    [(SKAB_FILE, skab_case, "pca"), (NAB_FILE, nab_case, "knn")],
    ids=["skab-pca", "nab-knn"],
)
def test_replayed_file_stores_the_evaluations_verdicts(
    mosquitto: MosquittoProcess,
    procs: ProcGroup,
    tmp_path: Path,
    path: Path,
    case: Callable[[Path], tuple[TrainedModel, np.ndarray]],
    detector: str,
) -> None:
    if not path.is_file():
        pytest.fail(f"evaluation data missing at {path}", False)
    table = read_csv(path)
    trained, expected = case(path)
    assert trained.kind == detector and expected.any() and not expected.all()
    agent = AgentRun(procs, "det-1", mosquitto.url, "5", tmp_path, count=0)
    models = agent.data_dir / "models"
    models.mkdir(parents=True)
    export_model(trained, models / f"{SENSOR_TYPE}.onnx")
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    agent.proc = procs.edgewatch(
        "agent",
        "--id", agent.agent_id,
        "--broker", mosquitto.url,
        "--mqtt-version", "5",
        "--data-dir", str(agent.data_dir),
        "--source", "csv",
        "--csv", str(path),
        "--sensor-type", SENSOR_TYPE,
        "--csv-time", "original",
        "--rate", "0",
        "--tier", "high",
        "--exit-when-drained",
        name=agent.agent_id,
    )  # fmt: skip
    assert agent.proc.wait(120) == 0, "agent did not drain"
    rows = sorted(stored(coord, agent.agent_id), key=lambda r: r["ts"])
    assert len(rows) == len(table)
    assert {r["scorer"] for r in rows} == {f"onnx:{SENSOR_TYPE}@1"}
    np.testing.assert_array_equal([r["ts"] for r in rows], table.ts)
    got = np.array([bool(r["anomaly"]) for r in rows])
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} verdicts differ"
