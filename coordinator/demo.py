"""``edgewatch demo``: the whole system on one machine with nothing installed.

The real topology, in one process tree: this process runs the embedded broker and the
coordinator (API on ``--port``); ``edgewatch simulate`` publishes the simulated fleet's
sensors to that broker as real sensors would (one topic each, the site broker); three
agents (``--source assigned``, tiers low, medium and high) read the sensors the
coordinator assigns them. A one-line summary every few seconds shows the readings, the
agents and how many sensors each watches; ``--kill-agent-after S`` SIGKILLs one agent
after S seconds, and the summary shows its sensors moving to the others.

Models improve themselves meanwhile: once a type has enough data the coordinator trains
it (every ``TRAIN_INTERVAL_S``), rolls each new model out to half its agents (which pin
the coordinator's signing key), and the quality gate promotes or rolls it back; the
summary counts the active models and names the rollouts under way.

One demo per data folder: a second one in the same folder is refused (a lock file beside
it), instead of wiping the first one's state under its feet.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

from edgewatch.coordinator.broker.embedded import EmbeddedBroker, free_port
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.settings import check_writable_dir

AGENTS = 3
TIERS = ("low", "medium", "high")
SITE_PREFIX = "site/sensors"
DEMO_EPISODE_S = 20.0


def episode_start_probability(share: float, rate_hz: float) -> float:
    """The per-reading chance an episode starts so that about ``share`` of the readings
    fall inside one: episodes of ``DEMO_EPISODE_S`` at ``rate_hz`` last L readings, and
    share = p L / (1 + p L). (The simulator's default, 0.005 a reading, puts about 40 %
    of a 5 Hz sensor's readings in episodes: a realistic fleet is far calmer.)

    >>> round(episode_start_probability(0.04, 5.0), 6)
    0.000417
    """
    if not 0 < share < 1:
        raise ValueError("--anomaly-share must be between 0 and 1")
    length = DEMO_EPISODE_S * rate_hz
    return share / (1 - share) / length


VICTIM = "demo-agent-2"
TRAIN_INTERVAL_S = 60.0


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
    parser.add_argument(
        "--anomaly-share",
        type=float,
        default=0.04,
        help="share of readings inside an anomaly episode (default 0.04)",
    )
    parser.add_argument(
        "--kill-agent-after",
        type=float,
        default=None,
        metavar="S",
        help=f"SIGKILL {VICTIM} after S seconds: watch its sensors move",
    )


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _lock(data_dir: Path) -> IO[str] | str:
    """Hold ``<data-dir>.lock`` for the demo's life; the holder's pid if someone has it."""
    path = data_dir.parent / f"{data_dir.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        return holder
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _edgewatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgewatch.shared.cli", "--log-level", "WARNING", *args]


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "wb")  # noqa: SIM115 - the child owns it
    return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def _spawn_agents(
    args: argparse.Namespace, broker_url: str, logs: Path, pubkey: Path
) -> dict[str, subprocess.Popen[bytes]]:
    procs = {}
    for i in range(AGENTS):
        agent_id = f"demo-agent-{i + 1}"
        argv = _edgewatch(
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
            "assigned",
            "--site-broker",
            broker_url,
            "--tier",
            TIERS[i % 3],
            "--heartbeat-s",
            "2",
            "--model-pubkey",
            str(pubkey),
        )
        procs[agent_id] = _spawn(argv, logs / f"{agent_id}.log")
    return procs


def _register_sensors(service: Any, args: argparse.Namespace) -> None:
    """The simulated fleet's sensors, read from the site broker ``edgewatch simulate`` feeds."""
    from edgewatch.agent.sources.fleet_model import build_fleet
    from edgewatch.coordinator.store import CatalogSensor
    from edgewatch.shared.desired import SiteSource

    per_sensor = args.rate / args.sensors
    now = time.time()
    sensors = [
        CatalogSensor(
            sensor_id=info.sensor_id,
            sensor_type=info.sensor_type,
            source=SiteSource(topic=f"{SITE_PREFIX}/{info.sensor_id}", rate_hz=per_sensor),
            latitude=info.latitude,
            longitude=info.longitude,
            origin="simulated",
            registered_at=now,
        )
        for info in build_fleet(args.seed, args.sensors).sensors
    ]
    service.store.register_sensors(sensors)
    if service.fleet_duty is not None:
        service.fleet_duty.catalog_changed()


def _get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=2) as resp:
        return json.loads(resp.read())


def _summary(base: str, token: str, last: dict[str, float]) -> str:
    stats = _get(f"{base}/api/v1/stats", token)
    agents = _get(f"{base}/api/v1/agents", token)
    placed = _get(f"{base}/api/v1/assignments", token)["agents"]
    now = time.monotonic()
    stored = float(stats.get("readings_stored", 0))
    rate = (stored - last.get("stored", stored)) / max(1e-9, now - last.get("t", now - 1))
    last.update(stored=stored, t=now)
    online = sum(1 for a in agents if a["state"] == "online")
    depth = sum(a["outbox_rows"] or 0 for a in agents)
    anomalies = int(stats.get("anomalies_stored", 0))
    alerts = _get(f"{base}/api/v1/alerts?state=active", token)["alerts"]
    owners = " ".join(
        f"{a.removeprefix('demo-agent-')}:{len(placed.get(a, []))}"
        for a in sorted(x["id"] for x in agents)
    )
    active = sum(1 for m in _get(f"{base}/api/v1/models", token) if m["status"] == "active")
    running = sum(
        1
        for r in _get(f"{base}/api/v1/rollouts?limit=20", token)
        if r["state"] in ("canary", "soaking")
    )
    return (
        f"{time.strftime('%H:%M:%S')}  {rate:7.0f} readings/s  stored {int(stored):>8}  "
        f"anomalies {anomalies}  agents online {online}/{AGENTS}  sensors per agent {owners}"
        f"  outbox depth {depth}  alerts open {len(alerts)}"
        f"  models active {active}, {running} rolling out"
    )


def _prepare(args: argparse.Namespace) -> IO[str] | int:
    held = _lock(args.data_dir)
    if isinstance(held, str):
        return fail(
            "demo",
            f"another demo (pid {held}) runs in {args.data_dir}: stop it, or give this one "
            "another --data-dir",
            1,
        )
    logs = args.data_dir / "logs"
    try:
        if args.data_dir.exists() and not args.keep:
            shutil.rmtree(args.data_dir)
        check_writable_dir(logs, "--data-dir", args.data_dir)
    except OSError as exc:  # the wipe failed
        return fail("demo", f"--data-dir {args.data_dir}: {exc.strerror or exc}", 1)
    except ConfigError as exc:
        return fail("demo", exc, 1)
    return held


def run(args: argparse.Namespace) -> int:
    from edgewatch.coordinator.server import serve_in_thread
    from edgewatch.coordinator.settings import CoordinatorSettings

    # The summary line is the demo's voice; per-request access logs would drown it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Each alert raised is a warning line of its own: the summary counts them instead
    # (and mosquitto_sub on edgewatch/alerts/active/# lists them, see the banner).
    logging.getLogger("edgewatch.coordinator.alerts").setLevel(logging.ERROR)
    if not 0 < args.anomaly_share < 1:
        return fail("demo", "--anomaly-share must be between 0 and 1 (exclusive)")
    lock = _prepare(args)
    if isinstance(lock, int):
        return lock
    logs = args.data_dir / "logs"
    broker = EmbeddedBroker(port=free_port())
    broker.start()
    port = args.port if args.port and _port_free(args.port) else free_port()
    settings = CoordinatorSettings(
        broker=broker.url,
        mqtt_version="3.1.1",
        db=args.data_dir / "coordinator" / "edgewatch.db",
        port=port,
        client_id="edgewatch-demo-coordinator",
        agent_timeout_s=6.0,
        # Models that improve themselves, at demo speed.
        train_interval_s=TRAIN_INTERVAL_S,
        train_min_new=3000,
        auto_rollout="50%",
        gate_soak_s=120.0,
        gate_min_readings=100,
    )
    server = serve_in_thread(settings)
    token = server.token
    pubkey = args.data_dir / "coordinator.pub"
    pubkey.write_text(server.app.state.service.models.keyring.public_pem)
    _register_sensors(server.app.state.service, args)
    simulate = _spawn(
        _edgewatch(
            "simulate",
            "--broker",
            broker.url,
            "--mqtt-version",
            "3.1.1",
            "--sensors",
            str(args.sensors),
            "--rate",
            str(args.rate / args.sensors),
            "--seed",
            str(args.seed),
            "--topic-prefix",
            SITE_PREFIX,
            "--anomaly-probability",
            f"{episode_start_probability(args.anomaly_share, args.rate / args.sensors):.6g}",
            "--mean-episode-s",
            str(DEMO_EPISODE_S),
        ),
        logs / "simulate.log",
    )
    agents = _spawn_agents(args, broker.url, logs, pubkey)
    base = f"http://127.0.0.1:{port}"
    print(
        f"edgewatch demo: API {base}/api/v1 (docs {base}/docs), token in {settings.token_path}",
        flush=True,
    )
    print(
        f"  broker {broker.url} (embedded, also the site broker: {args.sensors} sensors on "
        f"{SITE_PREFIX}/#), {AGENTS} agents following their assignment, logs in {logs}",
        flush=True,
    )
    print(
        f"  alerts: mosquitto_sub -h 127.0.0.1 -p {broker.port} -t 'edgewatch/alerts/active/#' -v",
        flush=True,
    )
    print(
        f"  models: trained from the fleet every {TRAIN_INTERVAL_S:.0f} s once a type has "
        "data, rolled out to half its agents, kept or rolled back by the quality gate: "
        f"EDGEWATCH_API_TOKEN=$(cat {settings.token_path}) edgewatch rollout list --api {base}",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    deadline = started + args.duration if args.duration else None
    kill_at = started + args.kill_agent_after if args.kill_agent_after is not None else None
    last: dict[str, float] = {"stored": 0.0, "t": started}
    try:
        while not stop.wait(args.interval):
            if kill_at is not None and time.monotonic() >= kill_at:
                kill_at = None
                agents[VICTIM].kill()
                print(f"killed {VICTIM} (SIGKILL): its sensors move to the others", flush=True)
            try:
                print(_summary(base, token, last), flush=True)
            except OSError as exc:
                print(f"(summary unavailable: {exc})", flush=True)
            if deadline is not None and time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        for p in (*agents.values(), simulate):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in (*agents.values(), simulate):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        server.stop()
        broker.stop()
        lock.close()
    print("edgewatch demo stopped", flush=True)
    survivors = [p for a, p in agents.items() if not (a == VICTIM and args.kill_agent_after)]
    return 0 if all(p.returncode == 0 for p in survivors) else 1
