"""Where the broker is and how to hold a connection to it: plain, frozen settings.

Parsed once from a URL or settings and handed to ``shared.mqtt.MqttLink``; nothing here
touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from edgewatch.shared.errors import ConfigError
from edgewatch.shared.redact import redact

MqttVersion = Literal["auto", "5", "3.1.1"]


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is: parsed from ``mqtt://[user:pass@]host:port`` (or ``mqtts://``).

    Errors and ``url()`` never show the password (``url(with_secret=True)`` does, for the
    settings that must hand it on).
    """

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp") or not parts.hostname:
            shown = redact(repr(url), parts.password)
            raise ConfigError(f"broker must be mqtt://[user:pass@]host:port, got {shown}")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError as exc:
            raise ConfigError(f"bad port in broker URL {redact(repr(url))}") from exc
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "mqtts",
        )

    def url(self, with_secret: bool = False) -> str:
        auth = ""
        if self.username:
            auth = quote(self.username, safe="")
            if with_secret and self.password is not None:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        return f"{'mqtts' if self.tls else 'mqtt'}://{auth}{self.host}:{self.port}"

    def with_password(self, password: str) -> BrokerAddress:
        """The same address logging in with ``password`` (read from a file, say)."""
        return replace(self, password=password)


def merge_password(url: str, password: str) -> str:
    """``url`` logging in with ``password`` (from ``--broker-password-file``, say).

    The URL must name the user and must not hold a password already: two passwords
    would leave the operator guessing which one the broker saw.
    """
    address = BrokerAddress.parse(url)
    if address.username is None:
        raise ConfigError("a broker password needs a user in the broker URL: mqtt://USER@host:port")
    if address.password is not None:
        raise ConfigError(
            "the broker password is given twice, in the broker URL and separately: "
            "leave it out of the URL"
        )
    return address.with_password(password).url(with_secret=True)


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class LinkOptions:
    """How to hold the connection. ``session_expiry_s`` > 0 keeps a persistent session."""

    client_id: str
    protocol: MqttVersion = "auto"
    keepalive: int = 10
    session_expiry_s: int = 3600
    will: Will | None = None
    connect_timeout_s: float = 4.0
    backoff_min_s: float = 0.2
    backoff_max_s: float = 30.0
    max_inflight: int = 64
    subscriptions: tuple[tuple[str, int], ...] = field(default_factory=tuple)
