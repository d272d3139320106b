"""End to end, detection: the verdicts an agent delivers are the evaluation's verdicts.

One SKAB file is replayed by a real ``edgewatch agent`` process (CSV replay, file times)
with the model ``edgewatch eval skab`` trains for it (the fixed recipe: a PCA detector
on rolling features), through a real Mosquitto into a real coordinator. The verdicts
stored for every reading must equal, reading by reading, those the evaluation computes
for the same file in-process: the evaluation measures what the product does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgewatch.coordinator.evaluation.skab import SENSOR_TYPE, EvalConfig, predict_ours
from edgewatch.coordinator.models.export import export_model
from edgewatch.coordinator.models.trainer import train_table
from edgewatch.shared.csvfile import read_csv
from tests.support.edgewatch import AgentRun, Coordinator
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup

SKAB_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "skab" / "valve1" / "1.csv"


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
def test_replayed_skab_file_stores_the_evaluations_verdicts(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    if not SKAB_FILE.is_file():
        pytest.fail(f"SKAB data missing at {SKAB_FILE}", False)
    config = EvalConfig()
    table = read_csv(SKAB_FILE)
    expected, parity = predict_ours(table, config)
    assert parity.label_mismatches == 0 and expected.any() and not expected.all()
    agent = AgentRun(procs, "det-1", mosquitto.url, "5", tmp_path, count=0)
    models = agent.data_dir / "models"
    models.mkdir(parents=True)
    recipe = config.recipe
    trained = train_table(
        table,
        recipe.train_config(),
        sensor_type=SENSOR_TYPE,
        spec=recipe.spec(table.metric_names),
        rows=config.train_rows,
        version=1,
    )
    export_model(trained, models / "skab.onnx")
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    agent.proc = procs.edgewatch(
        "agent",
        "--id", agent.agent_id,
        "--broker", mosquitto.url,
        "--mqtt-version", "5",
        "--data-dir", str(agent.data_dir),
        "--source", "csv",
        "--csv", str(SKAB_FILE),
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
    assert {r["scorer"] for r in rows} == {"onnx:skab@1"}
    np.testing.assert_array_equal([r["ts"] for r in rows], table.ts)
    got = np.array([bool(r["anomaly"]) for r in rows])
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} verdicts differ"
