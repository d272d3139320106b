"""Fixes for amqtt 0.12.1, the embedded broker: one small, documented patch per defect.

Each patch says which amqtt function it corrects, what is wrong there and why edgewatch
cares; docs/brokers.md lists them with the upstream issues, and each has a test in
tests/broker/test_conformance.py that fails without it (the suite runs on Mosquitto too).
The patches reach into private methods of exactly one amqtt release, so ``apply()``
refuses any other version before it imports them.

    >>> from edgewatch.coordinator.broker import amqtt_fixes
    >>> amqtt_fixes.apply()                 # idempotent; before the Broker starts
    >>> config["plugins"] = {amqtt_fixes.AUTH_PLUGIN: {}}

The patches, in the order a connection meets them:

    amqtt_connection_fixes  _refuse_other_protocol_versions_at_once  [MQTT-3.1.2-2]
                            _take_over_the_previous_connection        [MQTT-3.1.4-2]
                            _keep_the_latest_will_retain_flag
                            _enforce_keepalive                        [MQTT-3.1.2-24]
    amqtt_delivery_fixes    _send_retained_only_on_subscribe          [MQTT-3.3.1-6]
                            _deliver_at_the_lower_qos                 [MQTT-3.8.4-6]
                            _keep_unacked_qos1_for_redelivery         [MQTT-4.4.0-1]
                            _send_queued_messages_unretained          [MQTT-3.3.1-9]
    amqtt_connection_fixes  _close_a_connection_the_broker_stopped_serving [MQTT-3.1.2-8]
                            _close_sockets_even_when_peer_is_gone
    amqtt_auth              OpenAuthPlugin: persistent sessions without credentials
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from importlib import metadata
from typing import Any

from edgewatch.shared.errors import EdgewatchError

AMQTT_VERSION = "0.12.1"  # pinned in pyproject.toml
AUTH_PLUGIN = "edgewatch.coordinator.broker.amqtt_auth.OpenAuthPlugin"

_applied = False
_apply_lock = threading.Lock()


class UnsupportedAmqtt(EdgewatchError):
    """The installed amqtt is not the release these patches were written and tested for."""

    def __init__(self, found: str) -> None:
        super().__init__(
            f"the embedded broker needs amqtt=={AMQTT_VERSION} (found {found}): its fixes "
            "patch private code of that release; pin it, or re-check every patch against "
            "the new source and run tests/broker/test_conformance.py"
        )
        self.found = found


def require_pinned_amqtt() -> None:
    """Raise ``UnsupportedAmqtt`` unless amqtt ``AMQTT_VERSION`` is installed."""
    try:
        found = metadata.version("amqtt")
    except metadata.PackageNotFoundError:
        found = "none"
    if found != AMQTT_VERSION:
        raise UnsupportedAmqtt(found)


def apply() -> None:
    """Install every patch once (thread-safe: brokers start in threads of their own)."""
    global _applied
    with _apply_lock:
        if _applied:
            return
        require_pinned_amqtt()
        # Imported only now: another amqtt release may not even have these names.
        from edgewatch.coordinator.broker import amqtt_connection_fixes, amqtt_delivery_fixes

        for patch in (*amqtt_connection_fixes.PATCHES, *amqtt_delivery_fixes.PATCHES):
            patch()
        _applied = True


def reset(var: contextvars.ContextVar[Any], token: contextvars.Token[Any]) -> None:
    """``var.reset(token)``, except in a coroutine closed at shutdown from another context."""
    with contextlib.suppress(ValueError):  # that context goes away with its task
        var.reset(token)
