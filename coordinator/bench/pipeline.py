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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from edgewatch.coordinator.bench.brokers import BrokerProcess
from edgewatch.coordinator.bench.procs import api_get, edgewatch_argv, spawn, stop, wait_healthy
from edgewatch.coordinator.bench.stamps import all_stamps
from edgewatch.coordinator.bench.transport import make_payloads, run_transport
from edgewatch.coordinator.broker.embedded import free_port

AGENT_ID = "bench-1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", choices=["mosquitto", "embedded"], default="mosquitto")
    parser.add_argument("--count", type=int, default=200_000, help="readings to push through")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="readings/s (0: as fast as it goes)"
    )
    parser.add_argument("--sensors", type=int, default=50)
    parser.add_argument("--batch-max", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--model",
        choices=["none", "medium", "high"],
        default="none",
        help="agent scores with rules (none) or an ONNX model per simulated type of that tier",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="also run the pipeline over TLS (mqtts://, --ca) through the same broker, "
        "alternating plain and TLS runs, and report what TLS costs",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="with --tls: plain/TLS pairs to run (median)"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _store_figures(db: Path, count: int, sensors: int) -> dict[str, Any]:
    stamps = all_stamps(db, AGENT_ID)
    seqs = np.array([s.seq for s in stamps], dtype=np.int64)
    distinct = len(np.unique(seqs))
    # The simulator is deterministic: reading i is sensor i mod S. A row elsewhere is wrong.
    wrong = sum(1 for s in stamps if s.sensor_id != f"SENSOR_{s.seq % sensors:03d}")
    lat = np.array([s.stored_at - s.ts for s in stamps]) * 1000 if stamps else np.zeros(1)
    first_ts = min((s.ts for s in stamps), default=0.0)
    last_commit = max((s.stored_at for s in stamps), default=0.0)
    return {
        "stored": len(stamps),
        "lost": count - distinct,
        "duplicates": len(stamps) - distinct,
        "misattributed": wrong,
        "p50_latency_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_latency_ms": round(float(np.percentile(lat, 99)), 1),
        "max_latency_ms": round(float(lat.max()), 1),
        "span_s": last_commit - first_ts,
    }


def write_models(folder: Path, tier: str, sensors: int, seed: int) -> None:
    """One model per simulated sensor type, trained on another stretch of the same fleet
    (what ``edgewatch train`` would make from the store), into the agent's model folder."""
    from edgewatch.agent.settings import AgentSettings
    from edgewatch.agent.sources.fleet_model import SENSOR_TYPES
    from edgewatch.agent.sources.simulator import expected_stream
    from edgewatch.coordinator.models.export import export_model
    from edgewatch.coordinator.models.trainer import TrainConfig, train_batch
    from edgewatch.shared.features import FeatureSpec
    from edgewatch.shared.readings import SIM_METRICS

    folder.mkdir(parents=True, exist_ok=True)
    defaults = AgentSettings()
    history = expected_stream(
        seed, sensors, 0, 20_000, anomaly_probability=defaults.anomaly_probability
    )
    config = TrainConfig.for_tier(tier, smooth=3)
    for sensor_type in SENSOR_TYPES:
        if sensor_type not in history.sensor_type:
            continue
        trained = train_batch(
            history, FeatureSpec(SIM_METRICS), config, sensor_type=sensor_type, version=1
        )
        export_model(trained, folder / f"{sensor_type}.onnx")


def run_pipeline(
    args: argparse.Namespace, work: Path, broker: BrokerProcess, *, tls: bool = False
) -> dict[str, Any]:
    """One agent -> broker -> coordinator run in ``work``; ``tls``: over mqtts://."""
    work.mkdir(parents=True, exist_ok=True)
    url = broker.tls_url if tls else broker.url
    verify = ["--ca", str(broker.ca_file)] if tls else []
    api_port = free_port()
    db = work / "coordinator.db"
    coord = spawn(
        edgewatch_argv(
            "coordinator",
            "--broker",
            url,
            *verify,
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
    tier = ["--tier", args.model] if args.model != "none" else []
    if args.model != "none":
        write_models(work / "agent" / "models", args.model, args.sensors, args.seed)
    try:
        wait_healthy(api_port, 60)
        agent = spawn(
            edgewatch_argv(
                "agent",
                "--id",
                AGENT_ID,
                "--broker",
                url,
                *verify,
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
                *tier,
            ),
            work / "agent.log",
        )
        rss = _watch(agent, args.timeout)
        token = (db.parent / "api-token").read_text().strip()
        announced: dict[str, Any] = api_get(api_port, f"agents/{AGENT_ID}", token)["models"]
    finally:
        if agent is not None:
            stop(agent)
        stop(coord)
    figures = _store_figures(db, args.count, args.sensors)
    figures["agent_rss_mb"] = round(rss, 1)
    # What the agent announced it scores with: the proof the model path was measured.
    figures["models_announced"] = {t: m["version"] for t, m in sorted(announced.items())}
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
    with BrokerProcess(args.broker, work, tls=args.tls) as broker:
        say(f"broker: {broker.kind} on {broker.url}")
        payloads = make_payloads(args.count, args.sensors, args.batch_max, args.seed)
        say(f"transport only: {len(payloads)} batches ...")
        transport = run_transport("127.0.0.1", broker.port, broker.protocol, payloads)
        say(f"pipeline: {args.count} readings, rate {args.rate or 'unpaced'} ...")
        figures = run_pipeline(args, work, broker)
        tls = _tls_rounds(args, work, broker, figures) if args.tls else None
    span = figures.pop("span_s")
    result = {
        "broker": args.broker,
        "model": args.model,
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
    if tls is not None:
        result["tls"] = tls
    print(json.dumps(result, indent=None if args.json else 2))
    clean = result["lost"] == 0 and result["duplicates"] == 0
    return 0 if clean and (tls is None or tls["clean"]) else 1


def _rate(figures: dict[str, Any]) -> float:
    span = float(figures["span_s"])
    return round(figures["stored"] / span, 0) if span > 0 else 0.0


def _tls_rounds(
    args: argparse.Namespace, work: Path, broker: BrokerProcess, first: dict[str, Any]
) -> dict[str, Any]:
    """Plain and TLS runs alternated (the first plain one is ``first``): the cost of TLS
    as 1 - median(TLS) / median(plain), both measured through the same broker, now."""
    plain: list[float] = [_rate(first)]
    secure: list[float] = []
    clean = True
    for n in range(max(1, args.rounds)):
        for tls in (True, False) if n else (True,):
            figures = run_pipeline(args, work / f"{'tls' if tls else 'plain'}-{n}", broker, tls=tls)
            (secure if tls else plain).append(_rate(figures))
            clean = clean and figures["lost"] == 0 and figures["duplicates"] == 0
    plain_median, tls_median = float(np.median(plain)), float(np.median(secure))
    return {
        "plain_readings_per_s": plain,
        "tls_readings_per_s": secure,
        "plain_median": plain_median,
        "tls_median": tls_median,
        "cost": round(1.0 - tls_median / plain_median, 3) if plain_median else None,
        "clean": clean,
    }
