"""The coordinator as a plain object: store + fleet + ingest worker + MQTT link (+ broker).

FastAPI's lifespan runs one; so do the demo and the benchmarks, in-process, without
HTTP. ``stop()`` is orderly: stop taking messages, commit and ack what was queued, then
disconnect (cleanly, so the broker keeps our persistent session and queues for us).

Replicas (``--share-group``, PostgreSQL store): results arrive through the shared
subscription (each batch at one replica), hellos, heartbeats and statuses directly
(every replica keeps the whole fleet registry; retained messages never reach a shared
subscription). The fleet duty runs under a ``SingletonDuty`` on whichever replica holds
the ``fleet`` role (``cluster``); a lone coordinator always holds it.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from typing import Literal

from edgewatch.coordinator.analytics import Analytics
from edgewatch.coordinator.broker.embedded import EmbeddedBroker
from edgewatch.coordinator.cluster.leadership import Leadership, LocalLeadership
from edgewatch.coordinator.cluster.singleton import SingletonDuty
from edgewatch.coordinator.fleet.assignment.registry import make_strategy
from edgewatch.coordinator.fleet.duty import REBALANCE_REQUEST, DutySettings, FleetDuty
from edgewatch.coordinator.fleet.recent_moves import RecentMoves
from edgewatch.coordinator.fleet.registry import FleetRegistry
from edgewatch.coordinator.fleet.sensors import SensorActivityConsumer
from edgewatch.coordinator.fleet.simulated import register_simulated_fleet
from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.ingest.inbox import Inbox
from edgewatch.coordinator.ingest.judge import Inbound, Limits
from edgewatch.coordinator.ingest.worker import IngestWorker, LiveStats
from edgewatch.coordinator.metrics import CoordinatorMetrics
from edgewatch.coordinator.models.lifecycle import ModelLifecycle
from edgewatch.coordinator.security.enrollment_gate import EnrollmentGate
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.coordinator.store import Store
from edgewatch.coordinator.store.location import is_postgres, open_store
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.mqtt import BrokerAddress, LinkOptions, MqttLink
from edgewatch.shared.redact import redact
from edgewatch.shared.topics import Kind, Topics

log = logging.getLogger(__name__)
SUBSCRIBED = (Kind.RESULTS, Kind.HELLO, Kind.HEARTBEAT, Kind.STATUS)
# Through the share group when there is one: each batch is ingested by one replica.
SHARED = (Kind.RESULTS,)


class CoordinatorService:
    """Owns the coordinator's moving parts; ``start()``/``stop()`` from one thread."""

    def __init__(
        self, settings: CoordinatorSettings, *, metrics: CoordinatorMetrics | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics or CoordinatorMetrics()
        self.topics = Topics(settings.topic_prefix)
        self.store: Store = open_store(settings.db)
        self.fleet = FleetRegistry(self.store.agents())
        self.inbox = Inbox(settings.queue_size, on_full=self.metrics.queue_full.inc)
        self.broker: EmbeddedBroker | None = None
        self.link: MqttLink | None = None
        self.worker: IngestWorker | None = None
        self.fleet_role: SingletonDuty[FleetDuty] | None = None
        self.recent_moves = RecentMoves(self.store)
        self.feed = CommittedFeed()
        # Followers of the committed feed, each with its durable watermark in the store.
        self.consumers = [ConsumerRunner(SensorActivityConsumer(self.store), self.store, self.feed)]
        # Training, registry, signing, rollouts, cloud re-scoring (issue 9).
        self.models = ModelLifecycle(settings, self.store, self.topics, self.metrics)
        self.consumers.append(ConsumerRunner(self.models.rescoring, self.store, self.feed))
        # Aggregates, alerts and retention (docs/aggregates.md, docs/alerts.md).
        self.analytics = Analytics(
            settings,
            self.store,
            self.topics,
            self.feed,
            self.fleet,
            self.metrics,
            publish=self._publish,
            fleet_duty=lambda: self.fleet_duty,
            consumers=[c.consumer.name for c in self.consumers],
            leadership=self._leadership,
        )
        self.consumers += self.analytics.consumers
        self.alerts = self.analytics.alerts
        self.aggregates = self.analytics.aggregates
        self.started_at = time.time()
        self._stopped = False
        self.metrics.bind(queue_depth=self.inbox.depth, agents_online=self.fleet.online)

    def start(self) -> None:
        """Start everything; a broker port already taken is a ``ConfigError`` saying so."""
        port = self.settings.embedded_port
        if port is not None:
            self.broker = _start_embedded(port)
        self.link = MqttLink(
            self._address(),
            self._link_options(),
            on_message=self._enqueue,
            on_connect=self._link_up,
            tls=self.settings.tls_options(),
        )
        self.models.attach(self.fleet, self.link, lambda: self.fleet_duty)
        self.fleet_role = self._fleet_role(self.link)
        self.worker = IngestWorker(
            inbox=self.inbox,
            store=self.store,
            fleet=self.fleet,
            topics=self.topics,
            limits=Limits(self.settings.max_payload_bytes, self.settings.max_future_skew_s),
            acks=self.link,
            metrics=self.metrics,
            feed=self.feed,
            drain_max=self.settings.drain_max,
            handover=self._handover_sensors,
            gate=EnrollmentGate(self.store) if self.settings.require_enrollment else None,
        )
        for consumer in self.consumers:
            consumer.start()  # catches up from its watermark first
        self.worker.start()
        self.link.start()
        self.fleet_role.start()  # the model duty starts beside it (on_change)
        self.analytics.start()
        log.info(
            "coordinator ingesting from %s into %s", self.broker_url, redact(str(self.settings.db))
        )

    def stop(self) -> None:
        """Idempotent: the CLI's signal path and the lifespan may both call it."""
        if self._stopped:
            return
        self._stopped = True
        if self.fleet_role is not None:
            self.fleet_role.stop()  # gives the role up: another replica takes it at once
        self.models.stop()
        self.analytics.stop_duties()
        if self.worker is not None:
            self.worker.stop()  # closes the inbox, commits and acks what was queued
        for consumer in self.consumers:
            consumer.stop()
        self.analytics.stop()
        if self.link is not None:
            self.link.stop()
        if self.broker is not None:
            self.broker.stop()
        self.store.close()
        log.info("coordinator stopped")

    @property
    def fleet_duty(self) -> FleetDuty | None:
        """The fleet duty, when this replica holds the fleet role (else None)."""
        return self.fleet_role.running if self.fleet_role is not None else None

    def duties_held(self) -> list[str]:
        """Names of the singleton duties running on this replica now."""
        roles = [self.fleet_role] if self.fleet_role is not None else []
        roles += self.analytics.roles
        held = [r.name for r in roles if r.running is not None]
        return held + (["models"] if self.models.duty is not None else [])

    def request_rebalance(self) -> bool:
        """Re-plan now: at once here if this replica holds the duty, else through the
        store (the holder reads the request within its catalog poll). False: no duty."""
        duty = self.fleet_duty
        if duty is not None:
            duty.rebalance()
            return True
        if self.fleet_role is None:
            return False
        self.store.set_fleet_meta(REBALANCE_REQUEST, repr(time.time()))
        return True

    def _handover_sensors(self) -> frozenset[str]:
        duty = self.fleet_duty
        return duty.handover_sensors() if duty is not None else self.recent_moves.sensors()

    def wait_connected(self, timeout: float) -> bool:
        return self.link is not None and self.link.wait_connected(timeout)

    @property
    def broker_url(self) -> str:
        if self.broker is not None:
            return self.broker.url
        return BrokerAddress.parse(self.settings.broker).url()

    @property
    def connected(self) -> bool:
        return self.link is not None and self.link.connected

    @property
    def protocol(self) -> Literal["5", "3.1.1"] | None:
        return self.link.protocol if self.link is not None and self.link.connected else None

    def live(self) -> LiveStats | None:
        return self.worker.live() if self.worker is not None else None

    def _address(self) -> BrokerAddress:
        if self.broker is not None:
            return BrokerAddress(self.broker.host, self.broker.port)
        return BrokerAddress.parse(self.settings.broker)

    def _link_options(self) -> LinkOptions:
        s = self.settings
        filters = [self.topics.all_agents(k) for k in SUBSCRIBED]
        if s.share_group:
            shared = {self.topics.all_agents(k) for k in SHARED}
            filters = [Topics.shared(s.share_group, f) if f in shared else f for f in filters]
        return LinkOptions(
            client_id=s.client_id,
            # amqtt never answers an MQTT 5 CONNECT: don't make every start wait it out.
            protocol="3.1.1" if self.broker is not None else s.mqtt_version,
            keepalive=s.keepalive,
            # A replica's session must end with it: Mosquitto goes on routing a dead
            # member's share of the results into its persistent queue until it expires
            # (an hour), delaying them (agents resend, half of it into the same hole).
            # The live replicas take the load; a lone coordinator keeps its queue.
            session_expiry_s=0 if s.share_group else s.session_expiry_s,
            max_inflight=256,
            subscriptions=tuple((f, 1) for f in filters) + self.analytics.subscriptions(),
        )

    def _leadership(self, role: str) -> Leadership:
        s = self.settings
        if is_postgres(s.db):
            from edgewatch.coordinator.cluster.pg_leadership import PgAdvisoryLeadership

            return PgAdvisoryLeadership(str(s.db), role, ttl_s=s.leader_ttl_s)
        return LocalLeadership(f"{role}@{s.db}")

    def _fleet_role(self, link: MqttLink) -> SingletonDuty[FleetDuty]:
        s = self.settings
        try:
            make_strategy(s.assignment)  # refused at start, not when the role is taken
        except ValueError as exc:
            raise ConfigError(f"--assignment: {exc}") from exc
        if s.simulated_fleet:
            new = register_simulated_fleet(
                self.store, s.simulated_fleet, s.seed, s.sim_rate_hz, time.time()
            )
            log.info("simulated fleet: %d sensors (%d new)", s.simulated_fleet, new)
        role: SingletonDuty[FleetDuty] = SingletonDuty(
            "fleet",
            self._leadership("fleet"),
            lambda: self._fleet_duty(link, role),
            on_change=self.models.held,  # the model duty runs beside the fleet duty
        )
        self.fleet.on_change(self._wake_fleet_duty)
        return role

    def _wake_fleet_duty(self) -> None:
        duty = self.fleet_duty
        if duty is not None:
            duty.wake()

    def _fleet_duty(self, link: MqttLink, role: SingletonDuty[FleetDuty]) -> FleetDuty:
        """A fresh duty (its state loaded from the store), for a replica taking the role."""
        s = self.settings
        strategy = make_strategy(s.assignment)

        def publish(agent_id: str, document: bytes) -> None:
            # Retained: an agent that (re)connects is handed its current desired state.
            # Unsent while the link is down: every document is republished on connect.
            link.publish(self.topics.desired(agent_id), document, qos=1, retain=True)

        duty = FleetDuty(
            store=self.store,
            fleet=self.fleet,
            strategy=strategy,
            publish=publish,
            settings=DutySettings(
                timeout_s=s.agent_timeout_s,
                hold_down_s=s.hold_down_s,
                handover_timeout_s=s.handover_timeout_s,
                converge_timeout_s=s.converge_timeout_s,
            ),
            on_stuck=self.metrics.agents_not_converged.set,
            desired_config=self.analytics.desired_config(),
            guard=role.still_held,
            model_orders=self.models.orders,
        )
        self.models.prepare()  # the first desired states carry the model orders
        duty.republish()  # a new holder publishes every desired state once
        return duty

    def _link_up(self, session_present: bool) -> None:
        # paho's network thread: only signal. The duty republishes from its own thread.
        if self.fleet_duty is not None:
            self.fleet_duty.republish()
        self.models.republish()
        self.analytics.link_up()

    def _enqueue(self, topic: str, payload: bytes, retained: bool) -> None:
        # paho's network thread: hand off and return; everything else is the worker's.
        if self.analytics.take(topic, bytes(payload), retained):
            return
        self.inbox.put(Inbound(topic, bytes(payload), time.time(), retained))

    def _publish(self, topic: str, payload: bytes, **kw: object) -> object:
        """Publish on the coordinator's link (None while it has none, or it is down)."""
        return None if self.link is None else self.link.publish(topic, payload, **kw)  # type: ignore[arg-type]


def _start_embedded(port: int) -> EmbeddedBroker:
    broker = EmbeddedBroker(port=port)
    # Probed first: amqtt logs a traceback of its own when its listener cannot bind.
    taken = _bind_error(broker.host, broker.port)
    if taken is not None:
        raise _cannot_listen(broker, taken) from taken
    try:
        broker.start()
    except Exception as exc:
        cause = _bind_cause(exc)  # lost a race for the port since the probe
        if cause is None:
            raise
        raise _cannot_listen(broker, cause) from exc
    return broker


def _cannot_listen(broker: EmbeddedBroker, cause: OSError) -> ConfigError:
    if cause.errno == errno.EADDRINUSE:
        return ConfigError(
            f"embedded broker: port {broker.port} is in use (another broker? use "
            "--broker embedded:PORT for another port, or --broker mqtt://HOST:PORT "
            "to use the broker already there)"
        )
    why = cause.strerror or str(cause)
    return ConfigError(f"embedded broker: cannot listen on {broker.host}:{broker.port}: {why}")


def _bind_error(host: str, port: int) -> OSError | None:
    """Why a listener on ``host:port`` would fail to bind, or None if it would not."""
    with socket.socket() as probe:
        # As asyncio's listener does, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


_BIND_ERRORS = frozenset({errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL})


def _bind_cause(exc: BaseException | None) -> OSError | None:
    """The failed bind behind ``exc`` (amqtt wraps it in its BrokerError), if any."""
    for _ in range(10):  # a chain, not a cycle: stop somewhere
        if exc is None:
            return None
        if isinstance(exc, OSError) and exc.errno in _BIND_ERRORS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None
