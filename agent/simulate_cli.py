"""``edgewatch simulate``: play the simulated fleet onto a site broker, as real sensors would.

Sensors ``SENSOR_{O:03d} .. SENSOR_{O+N-1:03d}`` of the simulated fleet (seed ``--seed``)
each publish to their own topic, ``{--topic-prefix}/{sensor_id}``, on the sensor's own
clock: reading ``j`` at ``t0 + j / rate``, with that time as ``ts``. The payload is the one
an agent reads from a site broker (``agent.sources.site``)::

    {"ts": 1767225600.25, "metrics": {"temperature": 21.5, ...}, "status": "normal", "label": 0}

Readings that fall due together (a stall, or a high rate) go out as one list. An agent
assigned the same sensors as site sensors reads exactly these; one assigned them as
simulated sensors with the same seed, rate and ``t0`` generates the same readings itself.
Runs until Ctrl-C, ``--duration`` or ``--count-per-sensor``.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType

import orjson
from pydantic import ValidationError

from edgewatch.agent.sources.assigned import AssignedSource
from edgewatch.agent.sources.fleet_model import (
    DEFAULT_ANOMALY_PROBABILITY,
    DEFAULT_MEAN_EPISODE_S,
    build_fleet,
)
from edgewatch.agent.sources.site import MAX_BURST
from edgewatch.shared.bundle import bundle_tls, read_bundle
from edgewatch.shared.cli import fail
from edgewatch.shared.desired import AssignedSensor, SimulatedSource
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.mqtt import BrokerAddress, LinkOptions, MqttLink
from edgewatch.shared.ratelog import RateLimitedLog
from edgewatch.shared.readings import ReadingBatch
from edgewatch.shared.tls import TlsOptions

log = logging.getLogger(__name__)
VERB = "simulate"
EXIT_BROKER = 1  # the flags were fine; the broker could not be reached
CONNECT_TIMEOUT_S = 10.0
PROGRESS_S = 10.0
POLL_MAX = 5000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--broker", default=None, metavar="URL", help="site broker, mqtt://[user:pass@]host:port")
    add(
        "--bundle",
        type=Path,
        default=None,
        metavar="FILE",
        help="a sensor identity's bundle (edgewatch enroll NAME --role sensor): broker, "
        "password, CA, client id",
    )
    add("--sensors", type=int, default=10, metavar="N", help="number of sensors (default 10)")
    add("--sensor-offset", type=int, default=0, metavar="O", help="first sensor number")
    add("--seed", type=int, default=None, metavar="K", help="fleet seed (default: random)")
    add("--rate", type=float, default=1.0, metavar="HZ", help="readings/s per sensor (default 1)")
    add("--t0", type=float, default=None, metavar="T", help="epoch s of reading 0 (default: now)")
    add("--topic-prefix", default="site/sensors", metavar="P", help="topic: P/SENSOR_ID")
    add("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    add("--count-per-sensor", type=int, default=None, metavar="C", help="stop after C each")
    add(
        "--anomaly-probability",
        type=float,
        default=DEFAULT_ANOMALY_PROBABILITY,
        metavar="P",
        help="chance per reading that an episode starts",
    )
    add(
        "--mean-episode-s",
        type=float,
        default=DEFAULT_MEAN_EPISODE_S,
        metavar="S",
        help="mean anomaly episode length (simulated s)",
    )
    add("--qos", type=int, choices=(0, 1), default=1, help="MQTT QoS of the readings (default 1)")
    add("--client-id", default=None, help="MQTT client id (default: edgewatch-simulate-PID)")
    add("--mqtt-version", choices=("auto", "5", "3.1.1"), default="auto", help="MQTT protocol")


@dataclass
class Plan:
    """What to publish, checked: the sensors and where each one goes."""

    sensors: list[AssignedSensor]
    topics: dict[str, str]
    seed: int
    t0: float
    count: int | None
    duration: float | None


def plan(args: argparse.Namespace, now: float) -> Plan:
    """The sensors ``args`` describe; ``ConfigError`` for flags that cannot work."""
    if args.sensors < 1 or args.sensor_offset < 0:
        raise ConfigError("--sensors must be >= 1 and --sensor-offset >= 0")
    if args.count_per_sensor is not None and args.count_per_sensor < 1:
        raise ConfigError("--count-per-sensor must be >= 1")
    if args.duration is not None and args.duration <= 0:
        raise ConfigError("--duration must be > 0")
    prefix = str(args.topic_prefix).strip("/")
    if not prefix or any(c in prefix for c in "+#\x00"):
        raise ConfigError(f"--topic-prefix must be a topic without wildcards, got {prefix!r}")
    seed = secrets.randbits(52) if args.seed is None else int(args.seed)
    t0 = float(int(now)) if args.t0 is None else float(args.t0)
    fleet = build_fleet(seed % 2**64, args.sensors, args.sensor_offset)
    try:
        sensors = [
            AssignedSensor(
                sensor_id=info.sensor_id,
                sensor_type=info.sensor_type,
                latitude=info.latitude,
                longitude=info.longitude,
                source=SimulatedSource(
                    seed=seed,
                    number=args.sensor_offset + k,
                    rate_hz=args.rate,
                    t0=t0,
                    anomaly_probability=args.anomaly_probability,
                    mean_episode_s=args.mean_episode_s,
                ),
            )
            for k, info in enumerate(fleet.sensors)
        ]
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"bad sensor settings ({where}): {first['msg']}") from exc
    topics = {s.sensor_id: f"{prefix}/{s.sensor_id}" for s in sensors}
    return Plan(sensors, topics, seed, t0, args.count_per_sensor, args.duration)


def payloads(
    batch: ReadingBatch, limit: dict[str, int] | None
) -> dict[str, list[tuple[bytes, int]]]:
    """Per sensor, the messages for its readings in ``batch`` and how many each holds: one
    object for a lone reading, lists of up to ``MAX_BURST`` for several.

    ``limit`` (sensor -> readings still to send) cuts each sensor short and is updated.
    """
    items: dict[str, list[dict[str, object]]] = {}
    for i, sid in enumerate(batch.sensor_id):
        if limit is not None:
            if limit.get(sid, 0) <= 0:
                continue
            limit[sid] -= 1
        metrics = {m: float(v[i]) for m, v in batch.metrics.items()}
        item = {"ts": float(batch.ts[i]), "metrics": metrics, "status": batch.status[i]}
        if batch.label[i] is not None:
            item["label"] = batch.label[i]
        items.setdefault(sid, []).append(item)
    out: dict[str, list[tuple[bytes, int]]] = {}
    for sid, rows in items.items():
        if len(rows) == 1:
            out[sid] = [(orjson.dumps(rows[0]), 1)]
            continue
        chunks = [rows[k : k + MAX_BURST] for k in range(0, len(rows), MAX_BURST)]
        out[sid] = [(orjson.dumps(chunk), len(chunk)) for chunk in chunks]
    return out


@dataclass
class Tally:
    readings: int = 0
    messages: int = 0
    not_sent: int = 0  # readings lost while the broker was away (as a real sensor's are)


def _connection(args: argparse.Namespace) -> tuple[BrokerAddress, str, TlsOptions | None]:
    """Where to publish, as whom, trusting what: from --bundle or --broker."""
    if (args.bundle is None) == (args.broker is None):
        raise ConfigError("give --broker URL or --bundle FILE (one of them)")
    if args.bundle is None:
        address = BrokerAddress.parse(args.broker)
        return address, args.client_id or f"edgewatch-simulate-{os.getpid()}", None
    bundle = read_bundle(args.bundle)
    if bundle.role != "sensor":
        raise ConfigError(
            f"--bundle {args.bundle} is the {bundle.role} {bundle.identity}'s, not a sensor's"
        )
    address = BrokerAddress.parse(bundle.broker)
    secret = bundle.password.get_secret_value()
    address = replace(address, username=bundle.username, password=secret)
    # The broker binds this identity to its client id: another one would be refused.
    return address, bundle.client_id, bundle_tls(bundle, None, None, None)


def run(args: argparse.Namespace) -> int:
    try:
        address, client_id, tls = _connection(args)
        job = plan(args, time.time())
        link = MqttLink(
            address,
            LinkOptions(client_id=client_id, protocol=args.mqtt_version, session_expiry_s=0),
            tls=tls,
        )
    except ConfigError as exc:
        return fail(VERB, exc)
    link.start()
    stop = threading.Event()
    _on_signals(stop.set)
    try:
        if not link.wait_connected(CONNECT_TIMEOUT_S):
            return fail(VERB, f"cannot reach {address.url()}: {link.last_error}", EXIT_BROKER)
        first, last = job.sensors[0].sensor_id, job.sensors[-1].sensor_id
        print(
            f"simulate: {first}..{last} ({len(job.sensors)} sensors, {args.rate:g} Hz each, "
            f"seed {job.seed}, t0 {job.t0:.3f}) -> {address.url()} "
            f"{job.topics[first].rsplit('/', 1)[0]}/<sensor_id>",
            flush=True,
        )
        tally = publish(link, job, args.qos, stop)
    except KeyboardInterrupt:
        tally = None
    finally:
        link.stop()
    if tally is not None:
        print(f"simulate: done: {_summary(tally)}", flush=True)
    return 0


def publish(link: MqttLink, job: Plan, qos: int, stop: threading.Event) -> Tally:
    """Publish each sensor's readings as they fall due, until done or ``stop``."""
    source = AssignedSource()
    source.apply(job.sensors)
    limit = None if job.count is None else {s.sensor_id: job.count for s in job.sensors}
    tally = Tally()
    warn = RateLimitedLog(log, 10.0)
    started = time.monotonic()
    next_progress = started + PROGRESS_S
    while not stop.is_set():
        for sid, messages in payloads(source.poll(POLL_MAX), limit).items():
            for payload, n in messages:
                if link.publish(job.topics[sid], payload, qos=qos) is None:
                    tally.not_sent += n
                    warn.warning("down", "site broker away: %d reading(s) not sent", tally.not_sent)
                else:
                    tally.readings += n
                    tally.messages += 1
        now = time.monotonic()
        if limit is not None and not any(v > 0 for v in limit.values()):
            break
        if job.duration is not None and now - started >= job.duration:
            break
        if now >= next_progress:
            print(f"simulate: {_summary(tally)}", flush=True)
            next_progress = now + PROGRESS_S
        wait = source.wait_hint()
        if job.duration is not None:
            wait = min(wait, max(0.0, started + job.duration - now))
        stop.wait(wait)
    return tally


def _summary(tally: Tally) -> str:
    text = f"{tally.readings} readings in {tally.messages} messages"
    return text + (f", {tally.not_sent} not sent (broker away)" if tally.not_sent else "")


def _on_signals(stop: Callable[[], None]) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
