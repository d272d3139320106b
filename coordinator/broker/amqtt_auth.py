"""The embedded broker's authentication: everyone may connect, sessions stay theirs."""

from __future__ import annotations

from typing import Any

from amqtt.plugins.base import BaseAuthPlugin


class OpenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Accept every client, like Mosquitto's ``allow_anonymous true``, and flag none.

    amqtt's ``AnonymousAuthPlugin.authenticate`` (plugins/authentication.py) marks every
    session it admits ``is_anonymous``, and then ``Broker._session_monitor`` deletes a
    disconnected anonymous session within a second and ``Broker._run_broadcast`` queues
    nothing for it (upstream issue #27, PR #248): with anonymous access no session is ever
    persistent, so the coordinator lost every QoS 1 result sent while it restarted.
    Persistence is the client's choice (clean_session=0 with a client id) [MQTT-3.1.2-4].
    """

    async def authenticate(self, *, session: Any) -> bool:
        return True
