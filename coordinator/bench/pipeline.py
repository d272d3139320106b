"""``edgewatch bench pipeline``: agent -> broker -> coordinator store, end to end.

In one run, on one private broker (Mosquitto, or the embedded broker with
``--broker embedded``):

1. **transport only**: the same encoded batches published by a bare paho client and
   counted by a bare subscriber (the ceiling);
2. **pipeline**: a real coordinator process and a real agent process (simulated sensors,
   fed as fast as it goes or at ``--rate``) until every reading is acked.

Then the coordinator's SQLite store is read to count what arrived (lost, duplicates)
and the latency of each reading from creation (``ts``) to commit (``stored_at``).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from edgewatch.coordinator.bench.brokers import BrokerProcess
from edgewatch.coordinator.bench.procs import edgewatch_argv, spawn, stop, wait_healthy
from edgewatch.coordinator.bench.transport import make_payloads, run_transport
from edgewatch.coordinator.broker.embedded import free_port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", choices=["mosquitto", "embedded"], default="mosquitto")
    parser.add_argument("--count", type=int, default=200_000, help="readings to push through")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="readings/s (0: as fast as it goes)"
    )
    parser.add_argument("--sensors", type=int, default=50)
    parser.add_argument("--batch-max", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _store_figures(db: Path, count: int, sensors: int) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT seq, sensor_id, ts, stored_at FROM readings ORDER BY seq"
    ).fetchall()
    conn.close()
    seqs = np.array([r[0] for r in rows], dtype=np.int64)
    distinct = len(np.unique(seqs))
    # The simulator is deterministic: reading i is sensor i mod S. A row elsewhere is wrong.
    wrong = sum(1 for seq, sid, _, _ in rows if sid != f"SENSOR_{seq % sensors:03d}")
    lat = np.array([r[3] - r[2] for r in rows]) * 1000 if rows else np.zeros(1)
    first_ts = min((r[2] for r in rows), default=0.0)
    last_commit = max((r[3] for r in rows), default=0.0)
    return {
        "stored": len(rows),
        "lost": count - distinct,
        "duplicates": len(rows) - distinct,
        "misattributed": wrong,
        "p50_latency_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_latency_ms": round(float(np.percentile(lat, 99)), 1),
        "max_latency_ms": round(float(lat.max()), 1),
        "span_s": last_commit - first_ts,
    }


def run_pipeline(args: argparse.Namespace, work: Path, broker: BrokerProcess) -> dict[str, Any]:
    api_port = free_port()
    db = work / "coordinator.db"
    coord = spawn(
        edgewatch_argv(
            "coordinator",
            "--broker",
            broker.url,
            "--db",
            str(db),
            "--port",
            str(api_port),
            "--mqtt-version",
            broker.protocol,
            "--client-id",
            "bench-coordinator",
        ),
        work / "coordinator.log",
    )
    agent: subprocess.Popen[bytes] | None = None
    try:
        wait_healthy(api_port, 60)
        agent = spawn(
            edgewatch_argv(
                "agent",
                "--id",
                "bench-1",
                "--broker",
                broker.url,
                "--data-dir",
                str(work / "agent"),
                "--source",
                "simulate",
                "--sensors",
                str(args.sensors),
                "--rate",
                str(args.rate),
                "--count",
                str(args.count),
                "--seed",
                str(args.seed),
                "--batch-max",
                str(args.batch_max),
                "--mqtt-version",
                broker.protocol,
                "--exit-when-drained",
            ),
            work / "agent.log",
        )
        rss = _watch(agent, args.timeout)
    finally:
        if agent is not None:
            stop(agent)
        stop(coord)
    figures = _store_figures(db, args.count, args.sensors)
    figures["agent_rss_mb"] = round(rss, 1)
    figures["agent_exit_code"] = agent.returncode if agent is not None else None
    return figures


def _watch(agent: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait for the agent to drain and exit; returns its peak RSS in MB."""
    proc = psutil.Process(agent.pid)
    peak = 0.0
    deadline = time.monotonic() + timeout
    while agent.poll() is None and time.monotonic() < deadline:
        try:
            peak = max(peak, proc.memory_info().rss / 1e6)
        except psutil.Error:
            break
        time.sleep(0.1)
    if agent.poll() is None:
        raise RuntimeError(f"agent did not drain within {timeout}s")
    return peak


def run(args: argparse.Namespace) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edgewatch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    with BrokerProcess(args.broker, work) as broker:
        say(f"broker: {broker.kind} on {broker.url}")
        payloads = make_payloads(args.count, args.sensors, args.batch_max, args.seed)
        say(f"transport only: {len(payloads)} batches ...")
        transport = run_transport("127.0.0.1", broker.port, broker.protocol, payloads)
        say(f"pipeline: {args.count} readings, rate {args.rate or 'unpaced'} ...")
        figures = run_pipeline(args, work, broker)
    span = figures.pop("span_s")
    result = {
        "broker": args.broker,
        "generated": args.count,
        "rate_requested": args.rate,
        "readings_per_s": round(figures["stored"] / span, 0) if span > 0 else 0.0,
        **figures,
        "transport_only_readings_per_s": round(transport.readings_per_s, 0),
        "transport_lost": transport.readings - transport.received_readings,
        "batch_max": args.batch_max,
        "workdir": str(work),
    }
    result["pipeline_vs_transport"] = (
        round(result["readings_per_s"] / result["transport_only_readings_per_s"], 3)
        if result["transport_only_readings_per_s"]
        else None
    )
    print(json.dumps(result, indent=None if args.json else 2))
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 else 1
