"""Alerts onto MQTT: an event per transition, and the active set, retained.

- ``{p}/alerts/events/{severity}/{rule}/{scope}``: one message per transition (QoS 1,
  not retained): raised, acknowledged, updated, cleared.
- ``{p}/alerts/active/{rule}/{scope}``: the alert while it is active (retained, QoS 1);
  an empty retained message when it clears, which removes it from the broker. So
  ``mosquitto_sub -t 'edgewatch/alerts/active/#'`` shows the current state at once.

Everything is stored first; the link may be down (a publish then returns None): on every
(re)connect the active set is published again, and a retained alert the broker still
holds that is no longer active (cleared while we were away) is cleared (``retained``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from edgewatch.coordinator.alerts.payloads import alert_out, transition_out
from edgewatch.coordinator.alerts.records import Alert, AlertQuery, Transition
from edgewatch.coordinator.alerts.webhooks import WebhookNotifier
from edgewatch.coordinator.store import AlertStore
from edgewatch.shared.topics import Topics

log = logging.getLogger(__name__)
Publish = Callable[..., object]  # MqttLink.publish(topic, payload, qos=, retain=)


class AlertPublisher:
    """``AlertSink`` to MQTT and webhooks."""

    def __init__(
        self,
        topics: Topics,
        publish: Publish | None,
        webhooks: WebhookNotifier | None = None,
        *,
        listeners: Sequence[Callable[[Sequence[Transition]], None]] = (),
    ) -> None:
        self.topics = topics
        self._publish = publish
        self.webhooks = webhooks
        self._listeners = list(listeners)
        self._lock = threading.Lock()
        self.published = 0
        self.unsent = 0

    def add_listener(self, listener: Callable[[Sequence[Transition]], None]) -> None:
        self._listeners.append(listener)

    def transitions(self, done: Sequence[Transition]) -> None:
        for t in done:
            a = t.alert
            body = transition_out(t).model_dump_json().encode()
            self._send(self.topics.alert_event(a.severity, a.key), body, retain=False)
            self._retain(a)
        if self.webhooks is not None:
            self.webhooks.notify(done)
        for listener in self._listeners:
            listener(done)

    def _retain(self, a: Alert) -> None:
        payload = alert_out(a).model_dump_json().encode() if a.active else b""
        self._send(self.topics.alert_active(a.key), payload, retain=True)

    def _send(self, topic: str, payload: bytes, *, retain: bool) -> None:
        if self._publish is None:
            return
        with self._lock:
            info = self._publish(topic, payload, qos=1, retain=retain)
        if info is None:
            self.unsent += 1
        else:
            self.published += 1

    def republish(self, store: AlertStore) -> int:
        """Publish the active set again (the link came up)."""
        active = store.alerts(AlertQuery(state="active", limit=1_000_000))
        for a in active:
            self._retain(a)
        return len(active)

    def retained(self, store: AlertStore, topic: str, payload: bytes) -> None:
        """A retained message under ``alerts/active/`` the broker handed us: clear it if
        that alert is no longer active (it cleared while we could not publish)."""
        if not payload:
            return
        prefix = self.topics.alert_active("")
        key = topic[len(prefix) :] if topic.startswith(prefix) else ""
        if not key:
            return
        rule, _, scope = key.partition("/")
        if not store.alerts(AlertQuery(state="active", rule=rule, scope=scope, limit=1)):
            log.info("clearing stale retained alert %s", key)
            self._send(topic, b"", retain=True)
