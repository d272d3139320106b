"""``edgewatch bench report``: ``edgewatch report`` over a big store (10M readings).

Fills a SQLite store with ``--readings`` readings of ``--sensors`` simulated sensors of
the four types spread over the last ``--hours`` (through the store's own ingest write,
a batch of 5,000 at a time), builds their aggregates (the coordinator's aggregates
follower, catching up), then times what ``edgewatch report`` does: read the store and
draw the figure. The fill and the aggregates are reported too, apart. A store built
once is reused with ``--workdir``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgewatch.coordinator.aggregates.consumer import AggregateConsumer
from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.report.data import gather
from edgewatch.coordinator.report.figure import render
from edgewatch.coordinator.store import SqliteStore, WriteSet
from edgewatch.shared.progress import Progress
from edgewatch.shared.schemas import ResultBatch

BATCH = 5_000
TYPES = ("industrial", "environmental", "automotive", "medical")
METRICS = ("temperature", "humidity", "pressure", "vibration", "power_consumption")
TARGET_S = 15.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--hours", type=float, default=24.0, help="the period they span")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the store here")


def _batch(
    agent: int, first_seq: int, start: int, n: int, t0: float, step: float, sensors: int
) -> ResultBatch:
    """Readings ``start .. start+n-1`` of the whole fleet, sent by agent ``agent``."""
    rng = np.random.default_rng(start)
    k = np.arange(start, start + n)
    values = {m: (20 + 5 * rng.standard_normal(n)).round(3).tolist() for m in METRICS}
    return ResultBatch(
        schema_version=2,
        agent_id=f"bench-{agent}",
        epoch=1,
        first_seq=first_seq,
        sensor_id=[f"S{s % sensors:04d}" for s in k],
        sensor_type=[TYPES[(s % sensors) % len(TYPES)] for s in k],
        ts=(t0 + k * step).tolist(),
        metrics=values,
        status=["normal"] * n,
        label=[0] * n,
        score=rng.random(n).round(4).tolist(),
        anomaly=(rng.random(n) < 0.02).tolist(),
        confidence=(0.5 + rng.random(n) / 2).round(4).tolist(),
        scorer=["rules"] * n,
    )


def _fill(store: SqliteStore, args: argparse.Namespace, quiet: bool) -> float:
    started = time.monotonic()
    span = args.hours * 3600
    t0 = time.time() - span
    step = span / args.readings
    # Ten agents take turns, a batch each: every agent's seqs stay contiguous.
    next_seq = [0] * 10
    with Progress("fill", total=args.readings, quiet=quiet) as progress:
        for start in range(0, args.readings, BATCH):
            n = min(BATCH, args.readings - start)
            agent = (start // BATCH) % 10
            batch = _batch(agent, next_seq[agent], start, n, t0, step, args.sensors)
            next_seq[agent] += n
            store.write(WriteSet(batches=[batch]))
            progress.advance(n)
    return time.monotonic() - started


def run(args: argparse.Namespace) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edgewatch-report-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "coordinator.db"
    result: dict[str, Any] = {"readings": args.readings, "workdir": str(work)}
    store = SqliteStore(db)
    try:
        held = store.counters().fleet.readings_stored
        if held < args.readings:
            result["fill_s"] = round(_fill(store, args, args.json), 1)
            started = time.monotonic()
            # As a coordinator does: its aggregates follower catches up from its watermark.
            ConsumerRunner(AggregateConsumer(store), store, CommittedFeed()).catch_up()
            result["aggregates_s"] = round(time.monotonic() - started, 1)
        result["readings_in_store"] = store.counters().fleet.readings_stored
        now = time.time()
        started = time.monotonic()
        data = gather(store, now - args.hours * 3600, now, now)
        result["read_s"] = round(time.monotonic() - started, 2)
        render(data, work / "report.png")
        result["report_s"] = round(time.monotonic() - started, 2)
        result["panels"] = data.panel_sizes()
    finally:
        store.close()
    result["db_bytes"] = db.stat().st_size
    result["targets"] = {f"report_s<={TARGET_S:g}": result["report_s"] <= TARGET_S}
    print(json.dumps(result, indent=None if args.json else 2))
    return 0
