"""``edgewatch bench recovery``: how fast an agent's offline backlog drains, and what live
data suffers meanwhile.

An agent is offline for ``--offline-s`` at ``--sensors x --rate-per-sensor`` readings/s,
then reconnects to a private broker (Mosquitto, or ``--broker embedded``) and a real
coordinator process; it keeps producing live readings at that rate while the backlog
drains. The store is then read (every row carries ``ts`` = created and ``stored_at`` =
committed):

* ``drain_s``: from the reconnect to the commit of the last backlog reading;
* ``live_lag_max_s``: max ``stored_at - ts`` of readings created after the reconnect
  and before the drain ended (how far live data fell behind during the drain);
* ``lost`` / ``duplicates``: by ``seq`` against everything the agent generated.

How the backlog is built: by default **compressed**: the agent runs unpaced with no
broker until its outbox holds ``rate x offline_s`` readings, is stopped, and is
restarted paced at the live rate once broker and coordinator are up (the outbox
carries the backlog across, as after a reboot). ``--real-time`` instead keeps one paced
agent offline for the full ``--offline-s`` (10 minutes by default) and then starts the
broker under it; its drain then includes the agent's reconnect backoff.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgewatch.agent.outbox import read_state
from edgewatch.agent.settings import AgentSettings
from edgewatch.coordinator.bench.brokers import BrokerProcess
from edgewatch.coordinator.bench.procs import edgewatch_argv, spawn, stop, wait_healthy
from edgewatch.coordinator.bench.stamps import all_stamps, seq_ts_stored
from edgewatch.coordinator.broker.embedded import free_port

AGENT_ID = "recovery-1"
# The targets, reported beside the figures (never asserted by tests).
TARGET_DRAIN_S = 30.0
TARGET_LIVE_LAG_S = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = AgentSettings()
    parser.add_argument("--broker", choices=["mosquitto", "embedded"], default="mosquitto")
    parser.add_argument("--offline-s", type=float, default=600.0, help="outage length")
    parser.add_argument("--sensors", type=int, default=50)
    parser.add_argument("--rate-per-sensor", type=float, default=100.0, help="readings/s each")
    parser.add_argument(
        "--live-s", type=float, default=45.0, help="live readings produced after the reconnect"
    )
    parser.add_argument(
        "--real-time", action="store_true", help="wait the real outage instead of compressing it"
    )
    parser.add_argument("--batch-max", type=int, default=defaults.batch_max)
    parser.add_argument("--inflight-max", type=int, default=defaults.inflight_max)
    parser.add_argument(
        "--outbox-max-rows",
        type=int,
        default=defaults.outbox_max_rows,
        help="agent outbox bound (readings past it are dropped oldest-first, counted)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _agent_argv(
    args: argparse.Namespace, url: str, proto: str, data: Path, rate: float, count: int
) -> list[str]:
    return edgewatch_argv(
        "agent",
        "--id",
        AGENT_ID,
        "--broker",
        url,
        "--mqtt-version",
        proto,
        "--data-dir",
        str(data),
        "--source",
        "simulate",
        "--sensors",
        str(args.sensors),
        "--seed",
        str(args.seed),
        "--rate",
        str(rate),
        "--count",
        str(count),
        "--batch-max",
        str(args.batch_max),
        "--inflight-max",
        str(args.inflight_max),
        "--outbox-max-rows",
        str(args.outbox_max_rows),
        "--exit-when-drained",
    )


def _outbox_next_seq(data: Path) -> int:
    state = read_state(data / "outbox.db")
    return 0 if state is None else state.next_seq


def _outbox_bound_drops(data: Path) -> int:
    state = read_state(data / "outbox.db")
    return 0 if state is None else state.dropped.get("bound", 0)


def _build_backlog(args: argparse.Namespace, broker: BrokerProcess, work: Path, n: int) -> None:
    """Compressed: an unpaced agent with no broker fills its outbox with ``n`` readings."""
    argv = _agent_argv(args, broker.url, broker.protocol, work / "agent", 0.0, n)
    agent = spawn(argv, work / "agent-offline.log")
    deadline = time.monotonic() + args.timeout
    try:
        while _outbox_next_seq(work / "agent") < n:
            if agent.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"offline agent stopped short of {n} readings; see {work}")
            time.sleep(0.2)
    finally:
        stop(agent)


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} did not finish within {timeout:.0f}s") from None


def measure(rows: np.ndarray, reconnect_at: float, generated: int, dropped: int) -> dict[str, Any]:
    """Figures from ``(seq, ts, stored_at)`` rows; backlog = created before the reconnect.

    ``lost`` leaves out the ``dropped`` readings the outbox bound evicted and counted (the
    declared policy, reported as ``dropped_by_bound``), as the delivery promise does.
    """
    seq, ts, stored = rows[:, 0].astype(np.int64), rows[:, 1], rows[:, 2]
    distinct = len(np.unique(seq))
    backlog = ts < reconnect_at
    drain_end = float(stored[backlog].max()) if backlog.any() else reconnect_at
    during = ~backlog & (ts <= drain_end)
    lag = stored[during] - ts[during]
    drain_s = drain_end - reconnect_at
    return {
        "backlog": int(backlog.sum()),
        "drain_s": round(drain_s, 2),
        "drain_readings_per_s": round(int(backlog.sum()) / drain_s) if drain_s > 0 else None,
        "live_lag_max_s": round(float(lag.max()), 3) if len(lag) else 0.0,
        "live_lag_p99_s": round(float(np.percentile(lag, 99)), 3) if len(lag) else 0.0,
        "live_readings_during_drain": int(during.sum()),
        "generated": generated,
        "stored": len(seq),
        "dropped_by_bound": dropped,
        "lost": generated - distinct - dropped,
        "duplicates": len(seq) - distinct,
    }


def _rows(db: Path) -> np.ndarray:
    return seq_ts_stored(all_stamps(db, AGENT_ID))


def _run(args: argparse.Namespace, work: Path, say: Any) -> dict[str, Any]:
    rate = args.sensors * args.rate_per_sensor
    backlog = round(rate * args.offline_s)
    live = round(rate * args.live_s)
    broker = BrokerProcess(args.broker, work)
    url, proto, data = broker.url, broker.protocol, work / "agent"
    agent: subprocess.Popen[bytes] | None = None
    if args.real_time:
        say(f"agent offline for {args.offline_s:.0f}s at {rate:.0f} readings/s (real time) ...")
        argv = _agent_argv(args, url, proto, data, rate, backlog + live)
        agent = spawn(argv, work / "agent.log")
        time.sleep(args.offline_s)
    else:
        say(f"building a {backlog}-reading backlog unpaced, offline ...")
        _build_backlog(args, broker, work, backlog)
    api_port = free_port()
    db = work / "coordinator.db"
    coord_argv = edgewatch_argv(
        "coordinator",
        "--broker",
        url,
        "--db",
        str(db),
        "--port",
        str(api_port),
        "--mqtt-version",
        proto,
        "--client-id",
        "bench-coordinator",
    )
    with broker:
        coord = spawn(coord_argv, work / "coordinator.log")
        try:
            wait_healthy(api_port, 60)
            reconnect_at = time.time()
            if agent is None:
                say(f"reconnected: agent restarted paced at {rate:.0f} readings/s ...")
                argv = _agent_argv(args, url, proto, data, rate, backlog + live)
                agent = spawn(argv, work / "agent.log")
            _wait_exit(agent, args.timeout, "the reconnected agent")
        finally:
            if agent is not None:
                stop(agent)
            stop(coord)
    rows = _rows(db)
    if not args.real_time and len(rows):
        # Compressed: time starts when the restarted agent produced its first live
        # reading, not when its interpreter began importing (reported separately).
        live_ts = rows[rows[:, 0] >= backlog, 1]
        first_live = float(live_ts.min()) if len(live_ts) else reconnect_at
        figures = measure(rows, first_live, backlog + live, _outbox_bound_drops(data))
        figures["agent_startup_s"] = round(first_live - reconnect_at, 2)
    else:
        figures = measure(rows, reconnect_at, backlog + live, _outbox_bound_drops(data))
    figures["agent_exit_code"] = agent.returncode if agent is not None else None
    return figures


def run(args: argparse.Namespace) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edgewatch-recovery-"))
    work.mkdir(parents=True, exist_ok=True)
    say = (lambda _: None) if args.json else print  # --json: stdout is the JSON, and only it
    figures = _run(args, work, say)
    result = {
        "broker": args.broker,
        "backlog_built": "real-time" if args.real_time else "compressed",
        "offline_s": args.offline_s,
        "sensors": args.sensors,
        "rate_per_sensor": args.rate_per_sensor,
        "rate": args.sensors * args.rate_per_sensor,
        **figures,
        "settings": {
            "batch_max": args.batch_max,
            "inflight_max": args.inflight_max,
            "outbox_max_rows": args.outbox_max_rows,
            "live_s": args.live_s,
            "seed": args.seed,
        },
        "target_drain_s": TARGET_DRAIN_S,
        "target_live_lag_s": TARGET_LIVE_LAG_S,
        "workdir": str(work),
    }
    print(json.dumps(result, indent=None if args.json else 2))
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 else 1
