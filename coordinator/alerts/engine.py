"""The alert engine: rules in, alert changes out, stored before anything is published.

Three inputs, one lock (so the store sees one writer of alerts per process):

- ``tick(now)``: every threshold rule over its signal, through its ``Hysteresis``;
  event rules whose last event is older than ``clear_after`` clear. The timer work of
  the whole engine is here, called by ``AlertDuty`` (one thread; one replica later).
- ``on_critical(readings, position)``: the ``alerts`` feed consumer's page, each reading
  judged anomalous with high confidence (``critical_anomaly``); stored with the feed
  watermark, so a crash neither loses nor repeats one.
- ``on_event`` (``hooks``) and ``on_edge`` (an agent's own alert events).

Every transition the store carried out is then published (``AlertSink``: MQTT events,
the retained active set, webhooks). A person's ``ack``/``clear`` go the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from edgewatch.coordinator.alerts.records import (
    Alert,
    AlertQuery,
    Change,
    CriticalReading,
    EdgeReceipt,
    Silence,
    Transition,
    dedupe_key,
)
from edgewatch.coordinator.alerts.rules import Rule, RuleSet
from edgewatch.coordinator.alerts.signals import Signals
from edgewatch.coordinator.store import Store
from edgewatch.shared.alert_rules import Hysteresis, is_critical
from edgewatch.shared.clock import SYSTEM, Clock

log = logging.getLogger(__name__)
FEED_NAME = "alerts"


class AlertSink(Protocol):
    def transitions(self, done: Sequence[Transition]) -> None: ...


def scope_of(kind: str, ident: str) -> str:
    return "fleet" if kind == "fleet" else f"{kind}:{ident}"


def describe(rule: Rule, scope: str, value: float | None) -> str:
    shown = "n/a" if value is None else f"{value:.4g}"
    if rule.event:
        return f"{rule.name} on {scope}: {rule.description} ({shown})"
    level = f"> {rule.above:g}" if rule.above is not None else f"< {rule.below:g}"
    return f"{rule.name} on {scope}: {rule.metric} = {shown} ({level}; {rule.description})"


@dataclass
class EngineCounters:
    ticks: int = 0
    raised: int = 0
    cleared: int = 0
    critical_readings: int = 0
    edge_events: int = 0
    edge_duplicates: int = 0


class AlertEngine:
    def __init__(
        self,
        store: Store,
        rules: RuleSet,
        signals: Signals,
        sink: AlertSink,
        *,
        clock: Clock = SYSTEM,
    ) -> None:
        self.store = store
        self.rules = rules
        self.signals = signals
        self._sink = sink
        self.clock = clock
        self._lock = threading.RLock()
        self._hysteresis = {r.name: Hysteresis(r.levels()) for r in rules.enabled() if not r.event}
        self._last_event: dict[str, float] = {}  # dedupe key of an event rule -> last event
        self._silences: list[Silence] = []
        self.counters = EngineCounters()
        self.restore()

    # -- state ------------------------------------------------------------------------------

    def restore(self) -> None:
        """Take over what the store says is active (after a restart)."""
        with self._lock:
            self._silences = self.store.silences(self.clock.time())
            for alert in self.store.alerts(AlertQuery(state="active", limit=1_000_000)):
                rule = self.rules.rules.get(alert.rule)
                if rule is None or not rule.enabled:
                    continue
                ident = "" if alert.scope == "fleet" else alert.scope.partition(":")[2]
                if rule.event:
                    self._last_event[alert.key] = alert.updated_at
                elif "cloud" in alert.sources:
                    self._hysteresis[rule.name].set_firing(ident, True)

    def refresh_silences(self) -> None:
        with self._lock:
            self._silences = self.store.silences(self.clock.time())

    def silenced(self, rule: str, scope: str, at: float) -> bool:
        return any(s.covers(rule, scope, at) for s in self._silences)

    def _change(
        self, kind: str, rule: Rule, scope: str, value: float | None, at: float, **kw: object
    ) -> Change:
        return Change(
            kind=kind,  # type: ignore[arg-type]
            key=dedupe_key(rule.name, scope),
            rule=rule.name,
            scope=scope,
            severity=rule.severity,
            at=at,
            actor=str(kw.pop("actor", "rule")),
            value=value,
            message=describe(rule, scope, value),
            silenced=self.silenced(rule.name, scope, at),
            **kw,  # type: ignore[arg-type]
        )

    def _commit(
        self, changes: Sequence[Change], consumer: str | None = None, position: int | None = None
    ) -> list[Transition]:
        if not changes and consumer is None:
            return []
        done = self.store.apply_alert_changes(changes, consumer, position)
        self._account(done)
        return done

    def _account(self, done: Sequence[Transition]) -> None:
        for t in done:
            if t.event.kind == "raised":
                self.counters.raised += 1
                log.warning("alert raised: %s", t.alert.message)
            elif t.event.kind == "cleared":
                self.counters.cleared += 1
                log.info("alert cleared (%s): %s", t.event.actor, t.alert.key)
        if done:
            self._sink.transitions(done)

    # -- the timer ----------------------------------------------------------------------------

    def tick(self) -> list[Transition]:
        with self._lock:
            now = self.clock.time()
            self.counters.ticks += 1
            self._silences = [s for s in self._silences if s.ends_at > now]
            self.signals.sample(now)
            changes: list[Change] = []
            for rule in self.rules.enabled():
                if rule.event:
                    changes.extend(self._expire_events(rule, now))
                    continue
                h = self._hysteresis[rule.name]
                values = self.signals.values(rule, now)
                for ident in set(values) | set(h.scopes()):
                    value = values.get(ident)
                    verdict = h.observe(ident, value, now)
                    if verdict is not None:
                        kind = "raise" if verdict == "raise" else "clear"
                        changes.append(
                            self._change(kind, rule, scope_of(rule.scope, ident), value, now)
                        )
            return self._commit(changes)

    def _expire_events(self, rule: Rule, now: float) -> list[Change]:
        out = []
        prefix = f"{rule.name}/"
        for key, last in list(self._last_event.items()):
            if key.startswith(prefix) and now - last >= rule.clear_after_s:
                del self._last_event[key]
                out.append(self._change("clear", rule, key[len(prefix) :], None, now))
        return out

    # -- events -------------------------------------------------------------------------------

    def critical_level(self) -> float | None:
        rule = self.rules.rules.get("critical_anomaly")
        return rule.above if rule is not None and rule.enabled else None

    def on_critical(
        self, readings: Sequence[CriticalReading], consumer: str, position: int
    ) -> list[Transition]:
        """A feed page's critical readings; the watermark moves with the alerts."""
        with self._lock:
            rule = self.rules.rules.get("critical_anomaly")
            now = self.clock.time()
            changes: list[Change] = []
            if rule is not None and rule.enabled and rule.above is not None:
                for r in readings:
                    if not is_critical(True, r.confidence, rule.above):
                        continue
                    self.counters.critical_readings += 1
                    scope = scope_of("sensor", r.sensor_id)
                    key = dedupe_key(rule.name, scope)
                    if key not in self._last_event:
                        note = f"reading at ts {r.ts:.3f} from {r.agent_id}, scorer {r.scorer}"
                        changes.append(
                            self._change("raise", rule, scope, r.confidence, now, note=note)
                        )
                    self._last_event[key] = now
            return self._commit(changes, consumer, position)

    def on_event(
        self, rule_name: str, scope: str, value: float | None, note: str = ""
    ) -> list[Transition]:
        """An event for an event rule (``model_rollback``): raise, or keep it open."""
        with self._lock:
            rule = self.rules.rules.get(rule_name)
            if rule is None or not rule.enabled or not rule.event:
                return []
            now = self.clock.time()
            key = dedupe_key(rule.name, scope)
            fresh = key not in self._last_event
            self._last_event[key] = now
            kind = "raise" if fresh else "update"
            return self._commit([self._change(kind, rule, scope, value, now, note=note)])

    def on_edge(
        self, receipts: Sequence[EdgeReceipt], decode: Callable[[EdgeReceipt], list[Change]]
    ) -> list[Transition]:
        """An agent's alert events; a resend (same agent, epoch, seq) changes nothing."""
        with self._lock:
            seen: list[int] = []

            def changes(new: Sequence[EdgeReceipt]) -> list[Change]:
                seen.append(len(new))
                out: list[Change] = []
                for receipt in new:
                    out.extend(self._edge_change(c) for c in decode(receipt))
                return out

            done = self.store.apply_edge_alerts(receipts, changes)
            fresh = seen[0] if seen else 0
            self.counters.edge_events += fresh
            self.counters.edge_duplicates += len(receipts) - fresh
            self._account(done)
            return done

    def _edge_change(self, c: Change) -> Change:
        """An edge clear of an alert the cloud's rules also hold open is only a note."""
        if c.kind != "clear":
            rule = self.rules.rules.get(c.rule)
            silenced = self.silenced(c.rule, c.scope, c.at)
            sev = rule.severity if rule is not None else c.severity
            return replace(c, silenced=silenced, severity=sev)
        open_ = self.store.alerts(AlertQuery(state="active", rule=c.rule, scope=c.scope, limit=1))
        if open_ and "cloud" in open_[0].sources:
            return replace(c, kind="update", note=f"cleared at {c.source}")
        return c

    # -- people --------------------------------------------------------------------------------

    def by_hand(self, kind: str, alert_id: int, who: str, note: str = "") -> Alert | None:
        """``ack`` or ``clear`` by a person; the alert as it is afterwards (None: unknown).

        A hand clear leaves the rule's hysteresis as it is: a condition that is still bad
        does not raise again until it has been good and gone bad again."""
        with self._lock:
            alert = self.store.alert(alert_id)
            if alert is None:
                return None
            change = Change(
                kind=kind,  # type: ignore[arg-type]
                key=alert.key,
                rule=alert.rule,
                scope=alert.scope,
                severity=alert.severity,
                at=self.clock.time(),
                actor=who,
                alert_id=alert_id,
                note=note,
            )
            done = self._commit([change])
            if kind == "clear" and alert.key in self._last_event:
                del self._last_event[alert.key]
            return done[0].alert if done else self.store.alert(alert_id)
