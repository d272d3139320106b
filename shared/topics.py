"""Every MQTT topic edgewatch uses is built and parsed here, and nowhere else.

Layout under one prefix (default ``edgewatch``)::

    {p}/agents/{agent_id}/results     agent -> coordinator  batches of scored readings (QoS 1)
    {p}/agents/{agent_id}/hello       agent -> coordinator  announcement, retained
    {p}/agents/{agent_id}/heartbeat   agent -> coordinator  resource figures, outbox depth
    {p}/agents/{agent_id}/status      agent/broker          "online"/"offline" (last will), retained
    {p}/agents/{agent_id}/ack         coordinator -> agent  commit acknowledgements (QoS 1)
    {p}/agents/{agent_id}/desired     coordinator -> agent  desired state, retained (QoS 1)
    {p}/agents/{agent_id}/cmd/{name}  coordinator -> agent  commands (assignment, model, ...)
    {p}/alerts/{severity}/{key}       coordinator -> anyone alerts
    {p}/models/{sensor_type}/{version} coordinator -> agents signed model package, retained
    {p}/keys                          coordinator -> agents model-signing key chain, retained
    {p}/agents/{agent_id}/alerts      agent -> coordinator  alert events raised at the edge (QoS 1)
    {p}/agents/{agent_id}/alerts_ack  coordinator -> agent  their acknowledgements (QoS 1)
    {p}/local/{agent_id}/alerts       agent -> site broker  its own alerts, at once (uplink or not)
    {p}/alerts/events/{severity}/{rule}/{scope}  coordinator -> anyone  one per transition
    {p}/alerts/active/{rule}/{scope}  coordinator -> anyone  the active set, retained

Agent ids are restricted to ``[A-Za-z0-9_.-]{1,64}`` so they can never contain the MQTT
wildcards or separators, and so a broker ACL pattern on ``%u`` / ``%c`` matches exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from edgewatch.shared.errors import TopicError

AGENT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_AGENT_ID = re.compile(AGENT_ID_PATTERN)
_SENSOR_TYPE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_VERSION = re.compile(r"^[1-9][0-9]{0,15}$")
DEFAULT_PREFIX = "edgewatch"


class Kind(StrEnum):
    RESULTS = "results"
    HELLO = "hello"
    HEARTBEAT = "heartbeat"
    STATUS = "status"
    ACK = "ack"
    DESIRED = "desired"
    CMD = "cmd"
    ALERTS = "alerts"
    ALERTS_ACK = "alerts_ack"


@dataclass(frozen=True)
class TopicRef:
    """A parsed agent topic."""

    kind: Kind
    agent_id: str
    command: str | None = None


def check_agent_id(agent_id: str) -> str:
    """Return ``agent_id`` if it is a valid id, else raise ``TopicError``."""
    if not _AGENT_ID.match(agent_id):
        raise TopicError("bad_agent_id", repr(agent_id)[:80])
    return agent_id


@dataclass(frozen=True)
class Topics:
    """Builds and parses topics under one prefix.

    >>> t = Topics("edgewatch")
    >>> t.results("pi-7")
    'edgewatch/agents/pi-7/results'
    >>> t.parse("edgewatch/agents/pi-7/results")
    TopicRef(kind=<Kind.RESULTS: 'results'>, agent_id='pi-7', command=None)
    """

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "+#\0") or self.prefix.endswith("/"):
            raise TopicError("bad_prefix", repr(self.prefix))

    def agent(self, agent_id: str, kind: Kind, command: str | None = None) -> str:
        check_agent_id(agent_id)
        base = f"{self.prefix}/agents/{agent_id}/{kind.value}"
        if kind is Kind.CMD:
            if not command or not _AGENT_ID.match(command):
                raise TopicError("bad_command", repr(command))
            return f"{base}/{command}"
        return base

    def results(self, agent_id: str) -> str:
        return self.agent(agent_id, Kind.RESULTS)

    def hello(self, agent_id: str) -> str:
        return self.agent(agent_id, Kind.HELLO)

    def heartbeat(self, agent_id: str) -> str:
        return self.agent(agent_id, Kind.HEARTBEAT)

    def status(self, agent_id: str) -> str:
        return self.agent(agent_id, Kind.STATUS)

    def ack(self, agent_id: str) -> str:
        return self.agent(agent_id, Kind.ACK)

    def desired(self, agent_id: str) -> str:
        return self.agent(agent_id, Kind.DESIRED)

    def command(self, agent_id: str, name: str) -> str:
        return self.agent(agent_id, Kind.CMD, name)

    def all_agents(self, kind: Kind) -> str:
        """Subscription filter for one kind of message from every agent."""
        suffix = "/#" if kind is Kind.CMD else ""
        return f"{self.prefix}/agents/+/{kind.value}{suffix}"

    def alert(self, severity: str, key: str) -> str:
        return f"{self.prefix}/alerts/{severity}/{key}"

    def alerts_filter(self) -> str:
        return f"{self.prefix}/alerts/#"

    def model(self, sensor_type: str, version: int) -> str:
        """Where one model version is published (retained) for agents to fetch."""
        if not _SENSOR_TYPE.match(sensor_type) or version < 1:
            raise TopicError("bad_model", f"{sensor_type!r}@{version}"[:80])
        return f"{self.prefix}/models/{sensor_type}/{version}"

    def parse_model(self, topic: str) -> tuple[str, int] | None:
        """``(sensor_type, version)`` of a model topic, or None if it is not one."""
        head = f"{self.prefix}/models/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 2 or not _SENSOR_TYPE.match(parts[0]) or not _VERSION.match(parts[1]):
            return None
        return parts[0], int(parts[1])

    def keys(self) -> str:
        """The model-signing key chain (retained)."""
        return f"{self.prefix}/keys"

    def alert_event(self, severity: str, key: str) -> str:
        """One alert transition; ``key`` is the dedupe key ``rule/scope``."""
        return f"{self.prefix}/alerts/events/{severity}/{key}"

    def alert_active(self, key: str) -> str:
        """The retained state of one active alert (an empty payload: none)."""
        return f"{self.prefix}/alerts/active/{key}"

    def alerts_active_filter(self) -> str:
        return f"{self.prefix}/alerts/active/#"

    def local_alerts(self, agent_id: str) -> str:
        """Where an agent publishes its own alerts on the site broker, at once."""
        return f"{self.prefix}/local/{check_agent_id(agent_id)}/alerts"

    def edge_alerts(self, agent_id: str) -> str:
        return self.agent(agent_id, Kind.ALERTS)

    def edge_alerts_ack(self, agent_id: str) -> str:
        return self.agent(agent_id, Kind.ALERTS_ACK)

    @staticmethod
    def shared(group: str, topic_filter: str) -> str:
        """An MQTT 5 shared subscription, so several coordinators split the load."""
        return f"$share/{group}/{topic_filter}"

    def parse(self, topic: str) -> TopicRef:
        """Parse an agent topic; raise ``TopicError`` for anything else."""
        parts = topic.split("/")
        head = self.prefix.split("/")
        n = len(head)
        if parts[:n] != head or len(parts) < n + 3 or parts[n] != "agents":
            raise TopicError("bad_topic", topic[:200])
        agent_id = check_agent_id(parts[n + 1])
        try:
            kind = Kind(parts[n + 2])
        except ValueError as exc:
            raise TopicError("bad_topic", topic[:200]) from exc
        rest = parts[n + 3 :]
        if kind is Kind.CMD:
            if len(rest) != 1:
                raise TopicError("bad_topic", topic[:200])
            return TopicRef(kind, agent_id, rest[0])
        if rest:
            raise TopicError("bad_topic", topic[:200])
        return TopicRef(kind, agent_id)
