"""Who may publish and read what on a site's broker: the four roles, as data.

One description, two renderings: Mosquitto's dynamic-security roles (``dynsec``) and
its ``acl_file`` (``aclfile``, the fallback for brokers without the plugin). Everything
not granted here is denied (the site's default ACL access denies publishing, receiving
and subscribing).

=============  ==========================================================================
role           may
=============  ==========================================================================
agent          publish under ``{p}/agents/{id}/`` (results, hello, heartbeat, status and
               what later agent->coordinator kinds add), except the kinds that flow
               the other way (``ack``, ``desired``, ``cmd/#``, ``models/#``,
               ``alerts_ack``: denied); read its own ``ack``, ``desired``, ``cmd/#``,
               ``models/#``, ``alerts_ack`` (acks of its edge alerts), the site's
               models (``{p}/models/#``), the model-signing key chain (``{p}/keys``)
               and the site's sensor topics
sensor         publish its own sensor topics only (``site/sensors/{name}`` by default)
coordinator    read every agent's messages and the alerts; publish acks, desired states,
               commands and models to agents, the key chain, and alerts; never an
               agent's results
operator       read alerts, status, hello and heartbeats (and ``$SYS``); publish nothing
admin          the dynamic-security API (``$CONTROL/dynamic-security/#``) and nothing else
=============  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AclKind = Literal["publishClientSend", "publishClientReceive", "subscribePattern"]
Role = Literal["agent", "sensor", "coordinator", "operator"]
ROLES: tuple[Role, ...] = ("agent", "sensor", "coordinator", "operator")
DENY_PRIORITY = 10  # denials are checked before the grants they carve out of


@dataclass(frozen=True)
class Acl:
    kind: AclKind
    topic: str
    allow: bool = True
    priority: int = 0


def _read(topic: str) -> list[Acl]:
    """Subscribe to ``topic`` (or a filter inside it) and receive what matches."""
    return [Acl("subscribePattern", topic), Acl("publishClientReceive", topic)]


def _write(topic: str) -> list[Acl]:
    return [Acl("publishClientSend", topic)]


def _deny_write(topic: str) -> list[Acl]:
    return [Acl("publishClientSend", topic, allow=False, priority=DENY_PRIORITY)]


# Kinds on an agent's own topics that only the coordinator publishes.
TO_AGENT = ("ack", "desired", "cmd/#", "models/#", "alerts_ack")


def agent_acls(prefix: str, agent_id: str, sensor_prefix: str) -> list[Acl]:
    own = f"{prefix}/agents/{agent_id}"
    acls = [a for kind in TO_AGENT for a in _deny_write(f"{own}/{kind}")]
    acls += _write(f"{own}/#")
    for kind in TO_AGENT:
        acls += _read(f"{own}/{kind}")
    acls += _read(f"{prefix}/models/#")
    acls += _read(f"{prefix}/keys")  # the model-signing key chain (docs/models.md)
    acls += _read(f"{sensor_prefix}/#")
    return acls


def sensor_acls(topics: list[str]) -> list[Acl]:
    return [a for t in topics for a in _write(t)]


def coordinator_acls(prefix: str) -> list[Acl]:
    agents = f"{prefix}/agents/+"
    acls: list[Acl] = []
    for topic in (f"{prefix}/agents/#", f"{prefix}/alerts/#", f"{prefix}/coordinators/#"):
        acls += _read(topic)
        # Replicas split the fleet with MQTT 5 shared subscriptions (--share-group);
        # Mosquitto checks the subscription as written, $share/GROUP/ included.
        acls.append(Acl("subscribePattern", f"$share/+/{topic}"))
    for kind in TO_AGENT:
        acls += _write(f"{agents}/{kind}")
    acls += _write(f"{prefix}/models/#")
    acls += _write(f"{prefix}/keys")
    acls += _write(f"{prefix}/alerts/#")
    acls += _write(f"{prefix}/coordinators/#")
    return acls


def operator_acls(prefix: str) -> list[Acl]:
    acls = _read(f"{prefix}/alerts/#")
    for kind in ("status", "hello", "heartbeat"):
        acls += _read(f"{prefix}/agents/+/{kind}")
    acls += _read("$SYS/#")
    return acls


ADMIN_ACLS = _read("$CONTROL/dynamic-security/#") + _write("$CONTROL/dynamic-security/#")


def role_acls(
    role: Role, prefix: str, name: str, sensor_prefix: str, sensor_topics: list[str]
) -> list[Acl]:
    """The ACLs of identity ``name`` in ``role``."""
    if role == "agent":
        return agent_acls(prefix, name, sensor_prefix)
    if role == "sensor":
        return sensor_acls(sensor_topics or [f"{sensor_prefix}/{name}"])
    if role == "coordinator":
        return coordinator_acls(prefix)
    return operator_acls(prefix)


def role_name(role: Role, name: str) -> str:
    """The dynamic-security role of one identity: ``agent:pi-7``, ``coordinator:c1``."""
    return f"{role}:{name}"


def client_id_for(role: Role, name: str) -> str:
    """The MQTT client id the broker binds to identity ``name`` (it refuses any other).

    An agent's is the one ``edgewatch agent`` uses (``agent.uplink``); every other
    identity connects with its username as client id.
    """
    return f"edgewatch-agent-{name}" if role == "agent" else name


# The agent -> coordinator kinds, spelled out for ``acl_file``: its ``deny`` refuses
# reading too, so it cannot carve the coordinator's kinds out of a broad ``{own}/#``.
FROM_AGENT = ("results", "hello", "heartbeat", "status", "alerts")


def aclfile_block(username: str, acls: list[Acl]) -> list[str]:
    """``acl_file`` lines for ``username`` (read = subscribe and receive)."""
    lines = [f"user {username}"]
    denied = {a.topic for a in acls if a.kind == "publishClientSend" and not a.allow}
    for a in acls:
        if a.kind != "publishClientSend" or not a.allow:
            continue
        if denied and a.topic.endswith("/#"):
            base = a.topic[:-2]
            lines += [f"topic write {base}/{kind}" for kind in FROM_AGENT]
        else:
            lines.append(f"topic write {a.topic}")
    reads = [a.topic for a in acls if a.kind == "subscribePattern" and a.allow]
    lines += [f"topic read {t}" for t in dict.fromkeys(reads)]
    return lines
