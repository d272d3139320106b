"""What the dashboard shows, as one typed document (``Board``) built from the service.

The page gets a whole ``Board`` when it connects and ``BoardDelta``s after that: only
the agents whose row changed, the new chart points and the totals. 100 agents cost a
few KB a second on the wire, not the whole fleet every second.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel

from edgewatch.coordinator.alerts.payloads import AlertOut, alert_out
from edgewatch.coordinator.alerts.records import AlertQuery
from edgewatch.coordinator.dashboard.series import LiveSeries, Point
from edgewatch.coordinator.fleet.view import AgentOut, agent_out
from edgewatch.coordinator.models.view import ModelOut, model_out
from edgewatch.coordinator.rescoring.agreement import SplitOut, split
from edgewatch.coordinator.rollout.view import RolloutOut, rollout_out
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.shared import __version__


class FleetRow(BaseModel):
    id: str
    state: str
    tier: str | None
    cpu_percent: float | None
    memory_percent: float | None
    rss_mb: float | None
    battery_percent: float | None
    battery_simulated: bool
    outbox_rows: int | None
    outbox_oldest_age_s: float | None
    sensors_desired: int
    sensors_active: int | None
    models: dict[str, int]
    generation_desired: int
    generation_reported: int | None
    converged: bool
    stuck: bool
    # When the last heartbeat came (not last_seen: that moves with every batch, and
    # would resend every busy agent's row every second).
    last_heartbeat_at: float | None
    conditions: list[str]
    scorer: str | None


class Totals(BaseModel):
    readings_stored: int
    anomalies_stored: int
    duplicates_dropped: int
    conflicts: int
    rejected: int
    agents: int
    agents_online: int
    alerts_open: int  # not cleared: open or acknowledged
    alerts_critical: int  # of those, critical ones still open (not acknowledged)
    ingest_readings_per_s: float
    queue_depth: int
    broker_connected: bool
    # Who judged the readings stored so far: the edge (model or rules), the cloud.
    scoring: SplitOut


ALERTS_SHOWN = 200  # active alerts on the page, most severe and newest first
RECENT_SHOWN = 20  # cleared alerts, newest first


class Alerts(BaseModel):
    active: list[AlertOut]
    recent: list[AlertOut]
    active_total: int  # the page shows the first ALERTS_SHOWN
    critical_open: int  # critical and not acknowledged


MODELS_SHOWN = 40  # the newest models, all types
ROLLOUTS_SHOWN = 10  # the newest rollouts


class Models(BaseModel):
    models: list[ModelOut]
    rollouts: list[RolloutOut]


class Board(BaseModel):
    now: float
    version: str
    totals: Totals
    fleet: list[FleetRow]
    series: list[Point]
    alerts: Alerts
    models: Models


class BoardDelta(BaseModel):
    now: float
    totals: Totals
    fleet: list[FleetRow]  # rows that changed (or appeared)
    removed: list[str]
    points: list[Point]
    alerts: Alerts | None  # None: unchanged since the last event
    models: Models | None  # None: unchanged since the last event


def fleet_row(agent: AgentOut) -> FleetRow:
    beat: dict[str, Any] = agent.heartbeat or {}
    reported = agent.reported
    return FleetRow(
        id=agent.id,
        state=agent.state,
        tier=agent.tier,
        cpu_percent=beat.get("cpu_percent"),
        memory_percent=beat.get("memory_percent"),
        rss_mb=beat.get("rss_mb"),
        battery_percent=beat.get("battery_percent"),
        battery_simulated=bool(beat.get("battery_simulated")),
        outbox_rows=agent.outbox_rows,
        outbox_oldest_age_s=beat.get("outbox_oldest_age_s"),
        sensors_desired=len(agent.desired.sensors),
        sensors_active=None if reported is None else len(reported.active_sensors),
        models={t: m.version for t, m in sorted(agent.models.items())},
        generation_desired=agent.desired.generation,
        generation_reported=None if reported is None else reported.generation,
        converged=agent.converged,
        stuck=agent.stuck,
        last_heartbeat_at=agent.last_heartbeat_at,
        conditions=list(beat.get("conditions") or []),
        scorer=agent.scorer,
    )


def build_board(service: CoordinatorService, series: LiveSeries) -> Board:
    """The whole board now (blocking: store reads; call it from a worker thread)."""
    store = service.store
    counters = store.counters()
    desired = store.desired_states()
    duty = service.fleet_duty
    fleet = [
        fleet_row(
            agent_out(
                r,
                counters.agents[r.id].readings_stored if r.id in counters.agents else 0,
                desired.get(r.id),
                duty is not None and duty.convergence(r.id).stuck,
            )
        )
        for r in store.agents()
    ]
    live = service.live()
    c = counters.fleet
    alerts = build_alerts(service)
    totals = Totals(
        readings_stored=c.readings_stored,
        anomalies_stored=c.anomalies_stored,
        duplicates_dropped=c.duplicates_dropped,
        conflicts=c.conflicts,
        rejected=sum(c.rejected.values()),
        agents=len(fleet),
        agents_online=sum(1 for a in fleet if a.state == "online"),
        alerts_open=alerts.active_total,
        alerts_critical=alerts.critical_open,
        ingest_readings_per_s=0.0 if live is None else round(live.readings_per_s, 1),
        queue_depth=0 if live is None else live.queue_depth,
        broker_connected=service.connected,
        scoring=split(store.verdict_totals()),
    )
    return Board(
        now=round(time.time(), 3),
        version=__version__,
        totals=totals,
        fleet=fleet,
        series=series.points(),
        alerts=alerts,
        models=build_models(service),
    )


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def build_alerts(service: CoordinatorService) -> Alerts:
    store = service.store
    active = [alert_out(a) for a in store.alerts(AlertQuery(state="active", limit=1000))]
    active.sort(key=lambda a: (_SEVERITY_ORDER.get(a.severity, 3), -a.raised_at))
    cleared = store.alerts(AlertQuery(state="cleared", limit=RECENT_SHOWN))
    recent = sorted((alert_out(a) for a in cleared), key=lambda a: -(a.cleared_at or 0))
    critical = sum(1 for a in active if a.severity == "critical" and a.state == "open")
    return Alerts(
        active=active[:ALERTS_SHOWN],
        recent=recent[:RECENT_SHOWN],
        active_total=len(active),
        critical_open=critical,
    )


def build_models(service: CoordinatorService) -> Models:
    """The newest models and rollouts; a rollout's gate verdict where this replica runs
    the model duty (elsewhere the store's events say the same, without the live gate)."""
    store = service.store
    models = sorted(store.models(), key=lambda m: -m.id)[:MODELS_SHOWN]
    controller = service.models.rollouts
    rollouts = store.rollouts(ROLLOUTS_SHOWN)
    return Models(
        models=[model_out(m) for m in models],
        rollouts=[rollout_out(r, store, controller) for r in rollouts],
    )


def delta(before: Board, after: Board) -> BoardDelta:
    old = {row.id: row for row in before.fleet}
    changed = [row for row in after.fleet if old.get(row.id) != row]
    ids = {row.id for row in after.fleet}
    last = before.series[-1].t if before.series else None
    return BoardDelta(
        now=after.now,
        totals=after.totals,
        fleet=changed,
        removed=sorted(set(old) - ids),
        points=[p for p in after.series if last is None or p.t > last],
        alerts=None if after.alerts == before.alerts else after.alerts,
        models=None if after.models == before.models else after.models,
    )
