"""``edgewatch bench fleet``: how well and how fast the fleet duty assigns and moves sensors.

Three parts, in one run:

1. **balance** (pure, ``fleet_balance``): per strategy, the largest agent load over the
   mean, and the sensors moved when a fourth agent joins against the fewest moves that
   reach the strategy's bound;
2. **reassign** (real processes: a private Mosquitto, a coordinator with a simulated
   fleet, three ``--source assigned`` agents, each behind its own fault proxy): seconds
   from an agent's SIGKILL (default heartbeats, then ``--heartbeat-s 1``) and from a
   silent cut of its link (packets dropped, nothing closed) until every one of its
   sensors is reported running by the others;
3. **desired to reported** (100 protocol-level agents): seconds from a desired state's
   ``issued_at`` until its agent reports that generation, for every agent whose desired
   state a catalog change touched.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edgewatch.coordinator.bench.brokers import BrokerProcess
from edgewatch.coordinator.bench.faultproxy import FaultProxy
from edgewatch.coordinator.bench.fleet_balance import balance_figures
from edgewatch.coordinator.bench.procs import (
    api_get,
    api_post,
    edgewatch_argv,
    spawn,
    stop,
    wait_healthy,
)
from edgewatch.coordinator.broker.embedded import free_port

TARGETS = {"reassign_s": 10.0, "reassign_s_heartbeat_1": 3.0, "desired_to_reported_p99_s": 2.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sensors", type=int, default=30, help="simulated sensors (reassign)")
    parser.add_argument("--emulated", type=int, default=100, help="emulated agents")
    parser.add_argument("--keepalive", type=int, default=10, help="agents' MQTT keepalive")
    parser.add_argument("--skip-processes", action="store_true", help="balance figures only")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")


class _Run:
    """A broker, a coordinator and agents behind proxies, torn down on exit."""

    def __init__(self, work: Path, sensors: int, *, heartbeat_s: float, keepalive: int) -> None:
        self.work = work
        self.sensors = sensors
        self.heartbeat_s = heartbeat_s
        self.keepalive = keepalive
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.proxies: dict[str, FaultProxy] = {}
        self.token = ""

    def start(self, broker: BrokerProcess, agents: list[str], *, wait: bool = True) -> None:
        db = self.work / "coordinator.db"
        self.procs["coordinator"] = spawn(
            edgewatch_argv(
                "coordinator",
                "--broker",
                broker.url,
                "--db",
                str(db),
                "--port",
                str(self.port),
                "--simulated-fleet",
                str(self.sensors),
                "--sim-rate-hz",
                "2",
                "--client-id",
                f"bench-fleet-{self.port}",
            ),
            self.work / "coordinator.log",
        )
        wait_healthy(self.port, 60)
        self.token = (db.parent / "api-token").read_text().strip()
        for agent_id in agents:
            proxy = FaultProxy("127.0.0.1", broker.port).start()
            self.proxies[agent_id] = proxy
            self.procs[agent_id] = spawn(
                edgewatch_argv(
                    "agent",
                    "--id",
                    agent_id,
                    "--broker",
                    f"mqtt://127.0.0.1:{proxy.port}",
                    "--data-dir",
                    str(self.work / agent_id),
                    "--source",
                    "assigned",
                    "--heartbeat-s",
                    str(self.heartbeat_s),
                    "--keepalive",
                    str(self.keepalive),
                ),
                self.work / f"{agent_id}.log",
            )
        if wait:
            self._wait(lambda: self._running_all(set(agents)), 60, "fleet did not converge")

    def agents(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = api_get(self.port, "agents", self.token)
        return found

    def _running_all(self, agents: set[str]) -> bool:
        """Every sensor runs on exactly one agent: every one of ``agents`` has a share and
        runs exactly it. Handovers are over, so no old owner still runs a moved sensor
        (measured from there, a loss would look served before it happened)."""
        listed = {a["id"]: a for a in self.agents()}
        if not agents <= set(listed):
            return False
        mine = [listed[a] for a in agents]
        if not all(a["converged"] and a["desired"]["sensors"] and a["reported"] for a in mine):
            return False
        runs = [a["reported"]["active_sensors"] for a in mine]
        if any(set(r) != set(a["desired"]["sensors"]) for r, a in zip(runs, mine, strict=True)):
            return False
        running = {s for r in runs for s in r}
        return len(running) == self.sensors == sum(len(r) for r in runs)

    def sensors_of(self, agent_id: str) -> set[str]:
        mine = next(a for a in self.agents() if a["id"] == agent_id)
        return set(mine["desired"]["sensors"])

    def served_by_others(self, agent_id: str, sensors: set[str]) -> bool:
        running: set[str] = set()
        for a in self.agents():
            if a["id"] != agent_id and a["state"] == "online" and a["reported"]:
                running |= set(a["reported"]["active_sensors"])
        return sensors <= running

    def time_until_served(self, agent_id: str, sensors: set[str], started: float) -> float:
        self._wait(lambda: self.served_by_others(agent_id, sensors), 60, "sensors not moved")
        return time.monotonic() - started

    @staticmethod
    def _wait(check: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise RuntimeError(what)
            time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs.values():
            stop(proc)
        for proxy in self.proxies.values():
            proxy.stop()


def _reassign(args: argparse.Namespace, work: Path, heartbeat_s: float, how: str) -> float:
    with BrokerProcess("mosquitto", work) as broker:
        run = _Run(work, args.sensors, heartbeat_s=heartbeat_s, keepalive=args.keepalive)
        try:
            run.start(broker, ["b1", "b2", "b3"])
            victim = "b2"
            owned = run.sensors_of(victim)
            started = time.monotonic()
            if how == "sigkill":
                run.procs[victim].kill()
            else:
                run.proxies[victim].blackhole()
            return round(run.time_until_served(victim, owned, started), 2)
        finally:
            run.stop()


class _Emulated:
    """A protocol-level agent: follows its desired state and reports it at once."""

    def __init__(self, agent_id: str, port: int, reports: dict[str, list[float]]) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

        from edgewatch.shared.codec import encode
        from edgewatch.shared.desired import DesiredState
        from edgewatch.shared.schemas import AgentStatus, Heartbeat, Hello, ReportedState
        from edgewatch.shared.topics import Topics

        self.agent_id = agent_id
        self.topics = Topics()
        self._encode = encode
        self._desired_model = DesiredState
        self._beat, self._reported = Heartbeat, ReportedState
        self.reports = reports
        self.generation = 0
        self.active: list[str] = []
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"emu-{agent_id}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.will_set(
            self.topics.status(agent_id),
            encode(AgentStatus(agent_id=agent_id, state="offline")),
            1,
            True,
        )
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(self.topics.desired(agent_id), 1)
        now = time.time()
        hello = Hello(
            agent_id=agent_id,
            ts=now,
            version="bench",
            tier="medium",
            capabilities=["assigned"],
            sensors=0,
            epoch=1,
        )
        self.client.publish(
            self.topics.status(agent_id),
            encode(AgentStatus(agent_id=agent_id, state="online")),
            1,
            True,
        )
        self.client.publish(self.topics.hello(agent_id), encode(hello), 1, True)
        self.heartbeat()

    def heartbeat(self) -> None:
        beat = self._beat(
            agent_id=self.agent_id,
            ts=time.time(),
            uptime_s=1,
            cpu_percent=10,
            memory_percent=10,
            rss_mb=60,
            outbox_rows=0,
            outbox_bytes=0,
            outbox_oldest_age_s=0,
            readings_scored=0,
            readings_acked=0,
            scorer="rules",
            mqtt_protocol="5",
            reported=self._reported(generation=self.generation, active_sensors=self.active),
        )
        self.client.publish(self.topics.heartbeat(self.agent_id), self._encode(beat), 0)

    def _message(self, client: Any, userdata: object, msg: Any) -> None:
        doc = self._desired_model.model_validate_json(msg.payload)
        if doc.generation <= self.generation:
            return
        self.generation = doc.generation
        self.active = sorted(s.sensor_id for s in doc.sensors)
        self.heartbeat()  # report at once, as a real agent does after applying
        self.reports.setdefault(self.agent_id, []).append(time.time() - doc.issued_at)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _desired_to_reported(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    n = args.emulated
    with BrokerProcess("mosquitto", work) as broker:
        run = _Run(work, n * 10, heartbeat_s=5, keepalive=args.keepalive)
        run.start(broker, [], wait=False)
        reports: dict[str, list[float]] = {}
        emulated: list[_Emulated] = []
        try:
            emulated = [_Emulated(f"e{i:03d}", broker.port, reports) for i in range(n)]
            stop_beats = threading.Event()

            def beats() -> None:
                while not stop_beats.wait(2.0):
                    for e in emulated:
                        e.heartbeat()

            threading.Thread(target=beats, daemon=True).start()
            run._wait(
                lambda: len(reports) == n and run._running_all({e.agent_id for e in emulated}),
                120,
                "emulated fleet did not converge",
            )
            before = {a: len(r) for a, r in reports.items()}
            # A catalog change that touches most agents' desired states: 2 more each.
            new = [
                {
                    "sensor_id": f"EXTRA_{i:04d}",
                    "sensor_type": "industrial",
                    "source": {
                        "kind": "simulated",
                        "seed": 1,
                        "number": i,
                        "rate_hz": 1.0,
                        "t0": time.time(),
                    },
                }
                for i in range(2 * n)
            ]
            api_post(run.port, "sensors", run.token, new)
            run.sensors += len(new)
            run._wait(
                lambda: (
                    sum(len(r) - before.get(a, 0) for a, r in reports.items()) >= n // 2
                    and run._running_all({e.agent_id for e in emulated})
                ),
                120,
                "emulated fleet did not converge after the change",
            )
            stop_beats.set()
            lat = sorted(x for a, r in reports.items() for x in r[before.get(a, 0) :])
        finally:
            for e in emulated:
                e.close()
            run.stop()
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    return {
        "agents": n,
        "desired_states": len(lat),
        "desired_to_reported_p50_s": round(statistics.median(lat), 3),
        "desired_to_reported_p99_s": round(p99, 3),
    }


def run(args: argparse.Namespace) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edgewatch-fleet-"))
    work.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    result: dict[str, Any] = {"bench": "fleet"}
    say("balance: every strategy on a simulated fleet ...")
    result["balance"] = balance_figures()
    if not args.skip_processes:
        for name, hb, how in (
            ("reassign_s", 5.0, "sigkill"),
            ("reassign_s_heartbeat_1", 1.0, "sigkill"),
            ("reassign_silent_cut_s", 5.0, "blackhole"),
        ):
            what = "killed" if how == "sigkill" else "cut off silently"
            say(f"{name}: three agents, one {what} ...")
            sub = work / name
            sub.mkdir(exist_ok=True)
            result[name] = _reassign(args, sub, hb, how)
        result["silent_cut_bound_s"] = 1.5 * args.keepalive + 3
        say(f"desired to reported: {args.emulated} emulated agents ...")
        sub = work / "desired"
        sub.mkdir(exist_ok=True)
        result.update(_desired_to_reported(args, sub))
    result["workdir"] = str(work)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0
