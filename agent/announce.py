"""What an agent tells the fleet about itself: its hello and its heartbeats.

Built from the running agent's state; the worker publishes them (hello on every
connect, retained; heartbeats every ``heartbeat_s``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgewatch.agent.sources.base import AssignableSource
from edgewatch.shared import __version__
from edgewatch.shared.schemas import MAX_ASSIGNED, Heartbeat, Hello, LocalSensor, ModelRef

if TYPE_CHECKING:
    from edgewatch.agent.runner import Agent


def models_of(agent: Agent) -> dict[str, ModelRef]:
    """Sensor type -> the model the agent scores it with (empty: rules only)."""
    return {
        sensor_type: ModelRef(version=info.version, sha256=info.sha256)
        for sensor_type, info in agent.scorer.models().items()
    }


def build_hello(agent: Agent) -> Hello:
    s = agent.settings
    return Hello(
        agent_id=s.id,
        ts=agent.clock.time(),
        version=__version__,
        tier=s.tier,
        latitude=s.latitude,
        longitude=s.longitude,
        capabilities=capabilities_of(agent),
        models=models_of(agent),
        sensors=len(agent.source.sensors),
        epoch=agent.outbox.epoch,
        capacity=s.capacity,
        own_sensors=own_sensors(agent),
    )


def own_sensors(agent: Agent) -> list[LocalSensor]:
    """The sensors an agent reads from its own source (none when it follows assignments)."""
    if isinstance(agent.source, AssignableSource):
        return []
    return [
        LocalSensor(
            sensor_id=s.sensor_id,
            sensor_type=s.sensor_type,
            latitude=s.latitude,
            longitude=s.longitude,
        )
        for s in agent.source.sensors[:MAX_ASSIGNED]
    ]


def capabilities_of(agent: Agent) -> list[str]:
    """What the coordinator may ask of this agent: follow assignments, read site sensors."""
    s = agent.settings
    found = ["rules", "onnx", "outbox", "mqtt5" if agent.uplink.protocol == "5" else "mqtt3"]
    if s.source == "assigned":
        found.append("assigned")
        if s.site_broker:
            found.append("site")
    return found


def build_heartbeat(agent: Agent) -> Heartbeat:
    h = agent.health.read()
    stats = agent.outbox.stats()
    now = agent.clock.time()
    age = now - stats.oldest_created if stats.oldest_created else 0.0
    return Heartbeat(
        agent_id=agent.settings.id,
        ts=now,
        uptime_s=now - agent.started,
        cpu_percent=h.cpu_percent,
        memory_percent=h.memory_percent,
        rss_mb=h.rss_mb,
        battery_percent=h.battery_percent,
        battery_simulated=h.battery_simulated,
        outbox_rows=stats.rows,
        outbox_bytes=stats.bytes,
        outbox_oldest_age_s=max(0.0, age),
        readings_scored=agent.counters.scored,
        readings_acked=agent.counters.acked,
        dropped=stats.dropped,
        bad_acks={**agent.uplink.bad_acks, **agent.acks.refused},
        conflicted=agent.outbox.conflicted,
        scorer=agent.scorer.name,
        models=models_of(agent),
        mqtt_protocol=agent.uplink.protocol,
        connected_since=agent.uplink.link.connected_since,
        conditions=conditions_of(agent),
        reported=agent.control.reported(models_of(agent)),
    )


def conditions_of(agent: Agent) -> list[str]:
    """What an operator must act on; the drop counters alone say only what it cost."""
    found = []
    if agent.disk_full:
        found.append("disk_full")
    if agent.outbox.recovered_from is not None:
        # Stays up for the life of this process: the moved-aside file needs a person.
        found.append("outbox_recovered")
    if agent.unjudged_types:
        # Readings go out with no rule or model behind their verdict: configuration.
        found.append("unjudged:" + ",".join(sorted(agent.unjudged_types))[:180])
    if agent.outbox.conflicted:
        # Readings the coordinator holds differently: kept aside, a person must decide.
        found.append("conflicts")
    if agent.models.problems():
        # A model order it cannot carry out (refused, or nothing to fetch): see errors.
        found.append("model_orders")
    refusals = agent.uplink.link.refusals()
    if any(r.not_authorized for r in refusals):
        # The broker's ACL refuses us (MQTT 5 only): typically --id is not the broker
        # username. This heartbeat may well be refused too; the link logs it regardless.
        found.append("not_authorized")
    elif refusals:
        found.append("publish_refused")
    return found
