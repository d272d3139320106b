"""The coordinator's one settings object (flags > EDGEWATCH_* > TOML [coordinator] > defaults).

Also the API token: refused when it is a placeholder, generated when absent (and written,
mode 0600, next to the database so the demo and the operator can read it).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from edgewatch.coordinator.broker.embedded import parse_embedded
from edgewatch.shared.codec import DEFAULT_MAX_BYTES
from edgewatch.shared.mqtt import BrokerAddress
from edgewatch.shared.topics import AGENT_ID_PATTERN, DEFAULT_PREFIX, Topics

log = logging.getLogger(__name__)
TOKEN_FILE = "api-token"
MIN_TOKEN_LENGTH = 16
# Values people paste from tutorials; refusing them beats shipping an open API.
_PLACEHOLDERS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "password", "token", "admin", "test"}
)


class CoordinatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDGEWATCH_", extra="forbid")

    broker: str = Field(
        default="embedded", description="embedded, embedded:PORT or mqtt://[user:pass@]host:port"
    )
    db: Path = Field(default=Path("var/coordinator/edgewatch.db"), description="SQLite file")
    host: str = Field(default="127.0.0.1", description="API listen address")
    port: int = Field(default=8000, ge=0, lt=65536, description="API listen port")
    topic_prefix: str = Field(default=DEFAULT_PREFIX, description="MQTT topic prefix")
    mqtt_version: Literal["auto", "5", "3.1.1"] = Field(
        default="auto", description="MQTT protocol (auto: try 5, fall back to 3.1.1)"
    )
    api_token: SecretStr | None = Field(
        default=None, description="bearer token for the API (generated into <db dir>/api-token)"
    )
    max_payload_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, ge=1024, description="largest MQTT payload accepted"
    )
    max_future_skew_s: float = Field(
        default=86_400.0, gt=0, description="refuse readings further in the future than this"
    )
    share_group: str | None = Field(
        default=None, description="MQTT 5 shared-subscription group (several coordinators)"
    )
    queue_size: int = Field(default=256, ge=1, description="MQTT messages queued for ingest")
    drain_max: int = Field(default=64, ge=1, description="messages written per transaction")
    client_id: str = Field(
        default="edgewatch-coordinator", pattern=AGENT_ID_PATTERN, description="MQTT client id"
    )
    session_expiry_s: int = Field(
        default=3600, ge=1, description="broker keeps our queue this long while we are down"
    )
    keepalive: int = Field(default=10, ge=2, le=600, description="MQTT keepalive seconds")

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if parse_embedded(value) is None:
            BrokerAddress.parse(value)
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        Topics(value)
        return value

    @field_validator("api_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if raw.strip().lower() in _PLACEHOLDERS or len(raw) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"api_token is a placeholder or shorter than {MIN_TOKEN_LENGTH} characters; "
                "set a random one or leave it unset to have one generated"
            )
        return value

    @model_validator(mode="after")
    def _share_group_needs_v5(self) -> Self:
        if self.share_group is None:
            return self
        if self.embedded_port is not None or self.mqtt_version != "5":
            raise ValueError("share_group needs mqtt_version 5 and a broker that speaks it")
        return self

    @property
    def embedded_port(self) -> int | None:
        """The embedded broker's port, or None when the broker is external."""
        return parse_embedded(self.broker)

    @property
    def token_path(self) -> Path:
        return self.db.parent / TOKEN_FILE


def ensure_api_token(settings: CoordinatorSettings) -> str:
    """The configured token, or a fresh random one written (0600) to ``settings.token_path``.

    A generated token changes at every start: an operator who wants a stable one sets it.
    """
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    token = secrets.token_urlsafe(32)
    path = settings.token_path
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_CREAT with 0600 so the token is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    log.info("no API token configured: generated one into %s", path)
    return token
