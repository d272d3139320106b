"""One broker identity (a username, its bound client id, its ACLs) and the two ways a
broker can be told about it, behind one ``Protocol``.

``BrokerAuth``
├── ``DynsecAuth``  (``coordinator.site.dynsec``) live, through Mosquitto's
│                   ``$CONTROL/dynamic-security/v1`` API: no restart, a deleted client is
│                   disconnected at once
└── ``FileAuth``    (``coordinator.site.aclfiles``) ``password_file`` + ``acl_file``, for
                    brokers without the plugin: the broker reads them at start and on
                    SIGHUP, and keeps connected clients until they reconnect
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from edgewatch.coordinator.site.roles import Acl, Role, client_id_for, role_acls
from edgewatch.shared.errors import EdgewatchError


class BrokerAuthError(EdgewatchError):
    """The broker refused or could not take an identity change; the message says why."""


@dataclass(frozen=True)
class Identity:
    role: Role
    name: str
    acls: tuple[Acl, ...]

    @property
    def username(self) -> str:
        return self.name

    @property
    def client_id(self) -> str:
        return client_id_for(self.role, self.name)

    @property
    def role_name(self) -> str:
        return f"{self.role}:{self.name}"


def make_identity(
    role: Role,
    name: str,
    *,
    prefix: str,
    sensor_prefix: str,
    sensor_topics: list[str] | None = None,
) -> Identity:
    acls = role_acls(role, prefix, name, sensor_prefix, sensor_topics or [])
    return Identity(role, name, tuple(acls))


@dataclass(frozen=True)
class BrokerClient:
    """An identity as the broker holds it."""

    username: str
    client_id: str | None
    roles: tuple[str, ...]
    disabled: bool = False


class BrokerAuth(Protocol):
    def add(self, identity: Identity, password: str) -> None:
        """Create ``identity``; refuse (``BrokerAuthError``) if the username exists."""
        ...

    def remove(self, username: str) -> bool:
        """Delete the identity and cut its connection; False if there was none."""
        ...

    def clients(self) -> list[BrokerClient]: ...

    @property
    def live(self) -> bool:
        """True when changes take effect at once (no broker reload needed)."""
        ...
