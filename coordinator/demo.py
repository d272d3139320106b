"""``edgewatch demo``: the whole system on one machine with nothing installed.

One process tree: this process runs the embedded broker and the coordinator (API on
``--port``); three agent processes share 50 simulated sensors. A one-line summary is
printed every few seconds until Ctrl-C or ``--duration``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from edgewatch.coordinator.broker.embedded import EmbeddedBroker, free_port
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.settings import check_writable_dir

AGENTS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    parser.add_argument("--sensors", type=int, default=50, help="simulated sensors in all")
    parser.add_argument("--rate", type=float, default=250.0, help="readings/s in all")
    parser.add_argument("--port", type=int, default=8000, help="API port (busy: any free one)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var/demo"),
        help="demo state (wiped at start unless --keep)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the previous demo's state")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between summaries")
    parser.add_argument("--seed", type=int, default=42)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _split(total: int, parts: int) -> list[tuple[int, int]]:
    """(offset, count) of each agent's share of the sensors."""
    base, extra = divmod(total, parts)
    out, offset = [], 0
    for i in range(parts):
        n = base + (1 if i < extra else 0)
        out.append((offset, n))
        offset += n
    return out


def _spawn_agents(
    args: argparse.Namespace, broker_url: str, logs: Path
) -> list[subprocess.Popen[bytes]]:
    procs = []
    tiers = ["low", "medium", "high"]
    for i, (offset, n) in enumerate(_split(args.sensors, AGENTS)):
        agent_id = f"demo-agent-{i + 1}"
        argv = [
            sys.executable,
            "-m",
            "edgewatch.shared.cli",
            "--log-level",
            "WARNING",
            "agent",
            "--id",
            agent_id,
            "--broker",
            broker_url,
            "--mqtt-version",
            "3.1.1",
            "--data-dir",
            str(args.data_dir / agent_id),
            "--source",
            "simulate",
            "--sensors",
            str(n),
            "--sensor-offset",
            str(offset),
            "--rate",
            str(args.rate * n / args.sensors),
            "--seed",
            str(args.seed),
            "--tier",
            tiers[i % 3],
            "--heartbeat-s",
            "2",
        ]
        log = open(logs / f"{agent_id}.log", "wb")  # noqa: SIM115 - the child owns it
        procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
    return procs


def _get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=2) as resp:
        return json.loads(resp.read())


def _summary(base: str, token: str, last: dict[str, float]) -> str:
    stats = _get(f"{base}/api/v1/stats", token)
    agents = _get(f"{base}/api/v1/agents", token)
    now = time.monotonic()
    stored = float(stats.get("readings_stored", 0))
    rate = (stored - last.get("stored", stored)) / max(1e-9, now - last.get("t", now - 1))
    last.update(stored=stored, t=now)
    online = sum(1 for a in agents if a["state"] == "online")
    depth = sum(a["outbox_rows"] or 0 for a in agents)
    anomalies = int(stats.get("anomalies_stored", 0))
    return (
        f"{time.strftime('%H:%M:%S')}  {rate:7.0f} readings/s  stored {int(stored):>8}  "
        f"anomalies {anomalies}  agents online {online}/{AGENTS}  outbox depth {depth}"
    )


def run(args: argparse.Namespace) -> int:
    from edgewatch.coordinator.server import serve_in_thread
    from edgewatch.coordinator.settings import CoordinatorSettings

    # The summary line is the demo's voice; per-request access logs would drown it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logs = args.data_dir / "logs"
    try:
        if args.data_dir.exists() and not args.keep:
            shutil.rmtree(args.data_dir)
        check_writable_dir(logs, "--data-dir", args.data_dir)
    except OSError as exc:  # the wipe failed
        return fail("demo", f"--data-dir {args.data_dir}: {exc.strerror or exc}", 1)
    except ConfigError as exc:
        return fail("demo", exc, 1)
    broker = EmbeddedBroker(port=free_port())
    broker.start()
    port = args.port if _port_free(args.port) else free_port()
    settings = CoordinatorSettings(
        broker=broker.url,
        mqtt_version="3.1.1",
        db=args.data_dir / "coordinator" / "edgewatch.db",
        port=port,
        client_id="edgewatch-demo-coordinator",
    )
    server = serve_in_thread(settings)
    token = server.token
    agents = _spawn_agents(args, broker.url, logs)
    base = f"http://127.0.0.1:{port}"
    print(
        f"edgewatch demo: API {base}/api/v1 (docs {base}/docs), token in {settings.token_path}",
        flush=True,
    )
    print(
        f"  broker {broker.url} (embedded), {AGENTS} agents, {args.sensors} sensors, "
        f"logs in {logs}",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + args.duration if args.duration else None
    last: dict[str, float] = {"stored": 0.0, "t": time.monotonic()}
    try:
        while not stop.wait(args.interval):
            try:
                print(_summary(base, token, last), flush=True)
            except OSError as exc:
                print(f"(summary unavailable: {exc})", flush=True)
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        for p in agents:
            p.send_signal(signal.SIGTERM)
        for p in agents:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        server.stop()
        broker.stop()
    print("edgewatch demo stopped", flush=True)
    return 0 if all(p.returncode == 0 for p in agents) else 1
