"""One contract suite run against every source, and the rule scorer on their output."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgewatch.agent.scorers.rules import RuleScorer
from edgewatch.agent.settings import AgentSettings
from edgewatch.agent.sources import SensorInfo, Source, open_source
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.schemas import Reading
from edgewatch.shared.scoring import Scorer

COUNT = 60


def simulator(tmp_path: Path, start: int = 0) -> Source:
    return open_source(AgentSettings(sensors=7, rate=0, count=COUNT, seed=5), start=start)


def csv_replay(tmp_path: Path, start: int = 0) -> Source:
    """Two files (25 and 35 rows, ``;`` and ``,``): 60 readings."""
    paths = []
    for n, sep in ((25, ";"), (35, ",")):
        path = tmp_path / f"site{n}" / "run.csv"
        path.parent.mkdir(exist_ok=True)
        rows = [f"datetime{sep}Current{sep}anomaly"]
        rows += [f"2021-05-01 10:00:{i:02d}{sep}{i / 10}{sep}{i % 2}" for i in range(n)]
        path.write_text("\n".join(rows), encoding="utf-8")
        paths.append(path)
    settings = AgentSettings(source="csv", csv=paths, rate=0, csv_time="original")
    return open_source(settings, start=start)


Factory = Callable[[Path, int], Source]
SOURCES: list[Factory] = [simulator, csv_replay]


def drain(source: Source, size: int) -> list[ReadingBatch]:
    batches = []
    while (batch := source.poll(size)) is not None:
        batches.append(batch)
    return batches


@pytest.mark.parametrize("make", SOURCES)
def test_source_satisfies_the_protocol(make: Factory, tmp_path: Path) -> None:
    source = make(tmp_path, 0)
    assert isinstance(source, Source)
    assert source.sensors and all(isinstance(s, SensorInfo) for s in source.sensors)
    assert source.position == 0
    assert source.wait_hint() == 0.0


@pytest.mark.parametrize("make", SOURCES)
def test_stream_is_complete_and_positions_advance(make: Factory, tmp_path: Path) -> None:
    source = make(tmp_path, 0)
    batches = drain(source, 9)
    assert [len(b) for b in batches[:-1]] == [9] * (len(batches) - 1)
    assert source.position == sum(len(b) for b in batches) == COUNT
    assert source.poll(9) is None and source.poll(9) is None
    known = {s.sensor_id: s.sensor_type for s in source.sensors}
    for b in batches:
        assert all(known[sid] == typ for sid, typ in zip(b.sensor_id, b.sensor_type, strict=True))


@pytest.mark.parametrize("make", SOURCES)
def test_every_reading_is_a_valid_wire_reading(make: Factory, tmp_path: Path) -> None:
    batch = ReadingBatch.concat(drain(make(tmp_path, 0), 25))
    assert batch.finite_mask().all()
    for i in range(len(batch)):
        metrics = {m: float(v[i]) for m, v in batch.metrics.items() if not math.isnan(v[i])}
        Reading(
            sensor_id=batch.sensor_id[i],
            sensor_type=batch.sensor_type[i],
            ts=float(batch.ts[i]),
            metrics=metrics,
            status=batch.status[i],  # type: ignore[arg-type]
            label=batch.label[i],
        )


@pytest.mark.parametrize("make", SOURCES)
def test_resume_continues_the_stream(make: Factory, tmp_path: Path) -> None:
    whole = ReadingBatch.concat(drain(make(tmp_path, 0), 50))
    resumed = make(tmp_path, 17)
    assert resumed.position == 17
    tail = ReadingBatch.concat(drain(resumed, 4))
    assert tail.sensor_id == whole.sensor_id[17:]
    assert tail.label == whole.label[17:]
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(tail.metrics[name], values[17:])


@pytest.mark.parametrize("make", SOURCES)
def test_rule_scorer_output_is_aligned(make: Factory, tmp_path: Path) -> None:
    scorer = RuleScorer()
    assert isinstance(scorer, Scorer) and scorer.name == "rules"
    for batch in drain(make(tmp_path, 0), 13):
        scores = scorer.score(batch)
        lengths = {len(scores.score), len(scores.anomaly), len(scores.confidence)}
        assert lengths == {len(batch)} and scores.scorer == ["rules"] * len(batch)
        assert ((scores.confidence >= 0.5) & (scores.confidence <= 1.0)).all()
