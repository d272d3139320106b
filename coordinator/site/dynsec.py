"""Mosquitto's dynamic-security plugin: the file a new site starts with, and the live API.

``initial_config`` is the plugin's JSON file as ``site init`` writes it: the admin (who
may use ``$CONTROL/dynamic-security/#`` and nothing else), the coordinator, their roles,
and default access that denies everything not granted. The plugin rewrites the file
itself after every change made through its API.

``DynsecAuth`` is that API (``$CONTROL/dynamic-security/v1``, JSON commands, answers on
``.../v1/response``), spoken over TLS as the admin identity. Creating a client binds its
client id (the plugin refuses a CONNECT with another); deleting one disconnects it.
"""

from __future__ import annotations

import json
import queue
import secrets
import threading
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgewatch.coordinator.site.hashing import hash_password
from edgewatch.coordinator.site.identity import BrokerAuthError, BrokerClient, Identity
from edgewatch.coordinator.site.roles import ADMIN_ACLS, Acl
from edgewatch.shared.mqtt_options import BrokerAddress
from edgewatch.shared.tls import TlsOptions

CONTROL = "$CONTROL/dynamic-security/v1"
RESPONSE = CONTROL + "/response"
DENY_ALL = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}


def _acl_json(acls: Sequence[Acl]) -> list[dict[str, Any]]:
    return [
        {"acltype": a.kind, "topic": a.topic, "priority": a.priority, "allow": a.allow}
        for a in acls
    ]


def _client_json(identity: Identity, password: str) -> dict[str, Any]:
    h = hash_password(password)
    return {
        "username": identity.username,
        "clientid": identity.client_id,
        "textName": f"edgewatch {identity.role}",
        "password": h.hash_b64,
        "salt": h.salt_b64,
        "iterations": h.iterations,
        "roles": [{"rolename": identity.role_name, "priority": 0}],
    }


def initial_config(
    admin_username: str, admin_password: str, identities: Sequence[tuple[Identity, str]]
) -> dict[str, Any]:
    """The plugin's file for a new site: the admin and ``identities`` (with passwords)."""
    admin = hash_password(admin_password)
    clients = [
        {
            "username": admin_username,
            "textName": "edgewatch site admin (enroll, revoke)",
            "password": admin.hash_b64,
            "salt": admin.salt_b64,
            "iterations": admin.iterations,
            "roles": [{"rolename": "admin"}],
        }
    ]
    roles = [{"rolename": "admin", "acls": _acl_json(ADMIN_ACLS)}]
    for identity, password in identities:
        clients.append(_client_json(identity, password))
        roles.append({"rolename": identity.role_name, "acls": _acl_json(identity.acls)})
    return {"clients": clients, "groups": [], "roles": roles, "defaultACLAccess": DENY_ALL}


class DynsecAuth:
    """``BrokerAuth`` through the plugin's API; one connection per instance (``with``)."""

    live = True

    def __init__(
        self,
        address: BrokerAddress,
        tls: TlsOptions,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self._address = address
        self._timeout_s = timeout_s
        self._answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self._connected = threading.Event()
        self._refused: str | None = None
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"edgewatch-admin-{secrets.token_hex(4)}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.username_pw_set(address.username, address.password)
        if address.tls:
            self._client.tls_set_context(tls.context())
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    def __enter__(self) -> DynsecAuth:
        where = f"{self._address.host}:{self._address.port}"
        try:
            self._client.connect(self._address.host, self._address.port, keepalive=30)
        except OSError as exc:
            raise BrokerAuthError(
                f"cannot reach the broker at {where} ({exc}); is it running "
                "(mosquitto -c DIR/mosquitto.conf)?"
            ) from exc
        self._client.loop_start()
        if not self._connected.wait(self._timeout_s) or self._refused:
            self.__exit__()
            why = self._refused or "no answer"
            raise BrokerAuthError(f"the broker at {where} refused the site admin: {why}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        # Our bound methods as its callbacks make a cycle: break it, so paho's client is
        # freed (and its socket pair closed) now, not at some later garbage collection.
        self._client.on_connect = self._client.on_message = None

    # -- paho's thread -----------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        else:
            client.subscribe(RESPONSE, qos=1)
        self._connected.set()

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        for answer in data.get("responses", []):
            if isinstance(answer, dict):
                self._answers.put(answer)

    # -- commands ----------------------------------------------------------------------

    def run(
        self, *commands: dict[str, Any], tolerate: frozenset[str] = frozenset()
    ) -> list[dict[str, Any]]:
        """Send ``commands`` in one message; their answers in order. An error answer
        raises ``BrokerAuthError``, unless its text is in ``tolerate``."""
        tagged = [{**c, "correlationData": secrets.token_hex(8)} for c in commands]
        info = self._client.publish(CONTROL, json.dumps({"commands": tagged}), qos=1)
        info.wait_for_publish(self._timeout_s)
        wanted = {c["correlationData"]: c for c in tagged}
        got: dict[str, dict[str, Any]] = {}
        while len(got) < len(wanted):
            try:
                answer = self._answers.get(timeout=self._timeout_s)
            except queue.Empty:
                raise BrokerAuthError(
                    "the broker did not answer the dynamic-security command "
                    f"{tagged[0]['command']} (is the plugin loaded?)"
                ) from None
            key = str(answer.get("correlationData"))
            if key in wanted:
                got[key] = answer
        answers = [got[c["correlationData"]] for c in tagged]
        for command, answer in zip(tagged, answers, strict=True):
            error = answer.get("error")
            if error and error not in tolerate:
                raise BrokerAuthError(f"{command['command']}: {error}")
        return answers

    def add(self, identity: Identity, password: str) -> None:
        existing = self.run(
            {"command": "getClient", "username": identity.username},
            tolerate=frozenset({"Client not found"}),
        )[0]
        if not existing.get("error"):
            raise BrokerAuthError(
                f"{identity.username!r} is already a broker identity (an earlier enroll that "
                f"did not finish?): edgewatch revoke {identity.username} first"
            )
        self.run(
            {"command": "deleteRole", "rolename": identity.role_name},
            tolerate=frozenset({"Role not found"}),
        )
        self.run(
            {
                "command": "createRole",
                "rolename": identity.role_name,
                "textname": f"edgewatch {identity.role} {identity.name}",
                "acls": _acl_json(identity.acls),
            },
            {
                "command": "createClient",
                "username": identity.username,
                "password": password,
                "clientid": identity.client_id,
                "textname": f"edgewatch {identity.role}",
                "roles": [{"rolename": identity.role_name, "priority": 0}],
            },
        )

    def remove(self, username: str) -> bool:
        found = self.run(
            {"command": "getClient", "username": username},
            tolerate=frozenset({"Client not found"}),
        )[0]
        if found.get("error"):
            return False
        roles = [
            r.get("rolename") for r in found.get("data", {}).get("client", {}).get("roles", [])
        ]
        # Deleting the client disconnects it at once (the plugin kicks it).
        self.run({"command": "deleteClient", "username": username})
        for role in roles:
            if isinstance(role, str) and role.endswith(f":{username}"):
                self.run(
                    {"command": "deleteRole", "rolename": role},
                    tolerate=frozenset({"Role not found"}),
                )
        return True

    def clients(self) -> list[BrokerClient]:
        answer = self.run({"command": "listClients", "verbose": True, "count": -1})[0]
        out = []
        for c in answer.get("data", {}).get("clients", []):
            out.append(
                BrokerClient(
                    username=str(c.get("username")),
                    client_id=c.get("clientid"),
                    roles=tuple(str(r.get("rolename")) for r in c.get("roles", [])),
                    disabled=bool(c.get("disabled", False)),
                )
            )
        return out
