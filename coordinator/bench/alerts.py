"""``edgewatch bench alerts``: how fast alerts are out, what aggregates and alerts cost
ingest, and how well the rules catch the simulator's episodes.

1. **ingest ratio**: the coordinator (in this process, private Mosquitto) ingesting the
   same pre-encoded batches as fast as a QoS 1 publisher with a window of 16 sends them,
   with aggregates and alerts off, then on, alternating ``--rounds`` times; the ratio of
   the medians. ``aggregate_lag_ms``: commit of a feed entry -> its windows updated, over
   the "on" rounds.
2. **alert latency** at ``--rate`` readings/s (paced publisher): every 0.5 s a batch holds
   one reading of a fresh sensor judged anomalous with confidence 0.99
   (``critical_anomaly``), every 2 s a batch of 80 anomalous readings of a fresh sensor
   (``high_anomaly_rate``); a subscriber to ``edgewatch/alerts/events/#`` takes the time
   of each ``raised`` event. Latency = that time - the trigger reading's ``ts`` (stamped
   at publish, same clock).
3. **edge**: ``EdgeAlerting`` on a scored batch: end of scoring -> alert stored in the
   alert log and published locally (``alerts.jsonl``), p50/p99.
4. **quality** (``alerts_quality``): episode recall and false alerts per hour per sensor,
   for ``critical_anomaly`` and ``high_anomaly_rate``, per scorer (rules, a model).
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgewatch.coordinator.bench.alerts_traffic import flood, paced
from edgewatch.coordinator.bench.brokers import BrokerProcess
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.shared.topics import Topics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batches", type=int, default=300, help="ingest ratio: batches per round")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2, help="ingest ratio: rounds off/on")
    parser.add_argument("--rate", type=float, default=5000.0, help="latency: readings/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency: run this long")
    parser.add_argument("--sensors", type=int, default=10, help="quality: simulated sensors")
    parser.add_argument("--hours", type=float, default=2.0, help="quality: simulated hours")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-quality", action="store_true", help="leave part 4 out")
    parser.add_argument("--quality-only", action="store_true", help="part 4 alone")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


# -- parts ---------------------------------------------------------------------------------


def _service(broker: BrokerProcess, db: Path, on: bool) -> CoordinatorService:
    settings = CoordinatorSettings(
        broker=broker.url,
        db=db,
        mqtt_version="5",
        api_token=None,
        aggregates=on,
        alerts=on,
        client_id=f"bench-{'on' if on else 'off'}-{db.stem}",
        # A finished round's session must not stay behind, queueing the next round's
        # messages on the broker (it would slow every later round).
        session_expiry_s=1,
    )
    service = CoordinatorService(settings)
    service.start()
    if not service.wait_connected(10):
        raise RuntimeError("coordinator did not connect to the bench broker")
    return service


class _Cpu:
    """CPU seconds (this thread's, not wall time) spent in wrapped calls, by name: what
    each part costs, whatever else the shared box is doing."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, obj: object, method: str, name: str) -> None:
        real = getattr(obj, method)

        def timed(*a: Any, **k: Any) -> Any:
            t0 = time.thread_time()
            try:
                return real(*a, **k)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.thread_time() - t0

        setattr(obj, method, timed)


def _instrument(service: CoordinatorService, cpu: _Cpu) -> None:
    if service.worker is not None:
        cpu.wrap(service.worker, "process", "ingest")
    if service.aggregates is not None:
        cpu.wrap(service.aggregates, "consume", "aggregates")
    if service.alerts is not None:
        cpu.wrap(service.alerts.consumer, "consume", "alerts_feed")
        cpu.wrap(service.alerts.engine, "tick", "alert_ticks")


def ingest_ratio(args: argparse.Namespace, broker: BrokerProcess, work: Path) -> dict[str, Any]:
    rates: dict[str, list[float]] = {"off": [], "on": []}
    lags: list[float] = []
    cpu_on, readings_on = _Cpu(), 0
    ctx = mp.get_context("spawn")
    for r in range(args.rounds):
        for mode in ("off", "on"):
            service = _service(broker, work / f"ratio-{mode}-{r}.db", mode == "on")
            if mode == "on":
                _instrument(service, cpu_on)
            try:
                results: Any = ctx.Queue()
                pub = ctx.Process(
                    target=flood, args=(broker.port, args.batches, args.batch_size, results)
                )
                pub.start()
                figures = results.get(timeout=600)
                pub.join(10)
                if service.aggregates is not None:
                    head = service.store.feed_head()
                    deadline = time.monotonic() + 120
                    while service.store.watermark("aggregates") < head:
                        if time.monotonic() > deadline:
                            break
                        time.sleep(0.05)
                    lags.extend(service.aggregates.lags)
            finally:
                service.stop()
            rates[mode].append(figures["acked"] * args.batch_size / figures["elapsed_s"])
            if mode == "on":
                readings_on += figures["acked"] * args.batch_size
    # Each "on" round against the "off" round just before it: load drifts between pairs
    # on a shared box much more than within one.
    pairs = [on / off for off, on in zip(rates["off"], rates["on"], strict=True)]
    per_reading = {k: round(v / readings_on * 1e6, 2) for k, v in cpu_on.seconds.items()}
    ingest_us = per_reading.get("ingest", 0.0)
    extra_us = sum(v for k, v in per_reading.items() if k != "ingest")
    return {
        "ingest_readings_per_s_off": round(statistics.median(rates["off"])),
        "ingest_readings_per_s_on": round(statistics.median(rates["on"])),
        "ingest_ratio_on_off": round(statistics.median(pairs), 3),
        "pair_ratios": [round(p, 3) for p in pairs],
        "rounds": {k: [round(v) for v in vs] for k, vs in rates.items()},
        # CPU per reading of each part with everything on (thread CPU time, not wall).
        "cpu_us_per_reading": per_reading,
        "cpu_share_ingest": round(ingest_us / (ingest_us + extra_us), 3) if ingest_us else None,
        "aggregate_lag_ms": {
            "p50": _pct([v * 1000 for v in lags], 50),
            "p99": _pct([v * 1000 for v in lags], 99),
        },
    }


def alert_latency(args: argparse.Namespace, broker: BrokerProcess, work: Path) -> dict[str, Any]:
    service = _service(broker, work / "latency.db", True)
    try:
        ctx = mp.get_context("spawn")
        results: Any = ctx.Queue()
        pub = ctx.Process(
            target=paced, args=(broker.port, args.rate, args.seconds, args.batch_size, results)
        )
        pub.start()
        figures = results.get(timeout=args.seconds + 120)
        pub.join(10)
    finally:
        service.stop()
    out: dict[str, Any] = {
        "offered_readings_per_s": round(figures["readings"] / figures["elapsed_s"])
    }
    for rule in ("critical_anomaly", "high_anomaly_rate"):
        mine = [v for k, v in figures["latency_ms"].items() if k.startswith(rule)]
        sent = sum(1 for k in figures["sent"] if k.startswith(rule))
        out[rule] = {
            "triggers": sent,
            "alerts": len(mine),
            "p50": _pct(mine, 50),
            "p99": _pct(mine, 99),
        }
    return out


def edge_latency(work: Path, batches: int = 300) -> dict[str, Any]:
    from edgewatch.agent.alerting import EdgeAlerting
    from edgewatch.agent.outbox import Outbox
    from edgewatch.shared.readings import ReadingBatch
    from edgewatch.shared.scoring import Scores

    outbox = Outbox(work / "edge" / "outbox.db", "edge", max_rows=10**6, max_bytes=10**9)
    alerting = EdgeAlerting("edge", work / "edge", outbox.path, outbox.epoch, Topics())
    n = 500
    for b in range(batches):
        sensors = [f"s-{b}-{i % 10}" for i in range(n)]  # fresh sensors: each batch raises
        batch = ReadingBatch(sensors, ["t"] * n, np.full(n, time.time()), {"x": np.zeros(n)})
        anomaly = np.zeros(n, dtype=bool)
        anomaly[0] = True
        scores = Scores(np.zeros(n), anomaly, np.full(n, 0.99), ["rules"] * n)
        alerting.observe(batch, scores, time.monotonic())
    lat = [v * 1000 for v in alerting.local_latency_s]
    alerting.close()
    outbox.close()
    return {"batches": batches, "batch_size": n, "p50": _pct(lat, 50), "p99": _pct(lat, 99)}


def run(args: argparse.Namespace) -> int:
    logging.getLogger("edgewatch").setLevel(logging.ERROR)
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else print
    report: dict[str, Any] = {"bench": "alerts"}
    if args.quality_only:
        from edgewatch.coordinator.bench.alerts_quality import quality

        report["quality"] = quality(
            sensors=args.sensors, hours=args.hours, seed=args.seed, progress=say
        )
        print(json.dumps(report, indent=None if args.json else 2))
        return 0
    with tempfile.TemporaryDirectory() as tmp, BrokerProcess("mosquitto", Path(tmp)) as broker:
        work = Path(tmp)
        say("ingest with aggregates and alerts off / on ...")
        report["ingest"] = ingest_ratio(args, broker, work)
        say(f"alert latency at {args.rate:.0f} readings/s ...")
        report["alert_latency_ms"] = alert_latency(args, broker, work)
        say("edge alert latency ...")
        report["edge_alert_latency_ms"] = edge_latency(work)
    if not args.skip_quality:
        from edgewatch.coordinator.bench.alerts_quality import quality

        report["quality"] = quality(
            sensors=args.sensors, hours=args.hours, seed=args.seed, progress=say
        )
    lat = report["alert_latency_ms"]
    report["targets"] = {
        "alert_latency_p99_le_1000ms": all(
            (lat[r]["p99"] or 1e9) <= 1000 for r in ("critical_anomaly", "high_anomaly_rate")
        ),
        "edge_latency_p99_le_50ms": (report["edge_alert_latency_ms"]["p99"] or 1e9) <= 50,
        "ingest_ratio_ge_0_8": report["ingest"]["ingest_ratio_on_off"] >= 0.8,
    }
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="edgewatch bench alerts", description=__doc__)
    add_arguments(_parser)
    raise SystemExit(run(_parser.parse_args()))
