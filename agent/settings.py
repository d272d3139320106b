"""The agent's one settings object (flags > EDGEWATCH_* > TOML [agent] > defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from edgewatch.shared.bundle import Bundle, bundle_tls, check_tls_flags, read_bundle
from edgewatch.shared.desired import DEFAULT_ANOMALY_PROBABILITY, DEFAULT_MEAN_EPISODE_S
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.mqtt_options import BrokerAddress, merge_password
from edgewatch.shared.tls import TlsOptions
from edgewatch.shared.topics import AGENT_ID_PATTERN, DEFAULT_PREFIX


class AgentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDGEWATCH_", extra="forbid")

    id: str = Field(default="agent-1", pattern=AGENT_ID_PATTERN, description="agent id")
    broker: str = Field(default="mqtt://127.0.0.1:1883", description="mqtt://[user:pass@]host:port")
    broker_password: SecretStr | None = Field(
        default=None, description="broker password (the URL keeps the user); prefer the -file form"
    )
    data_dir: Path = Field(default=Path("var/agent"), description="outbox and model store")
    source: Literal["simulate", "csv", "assigned"] = Field(
        default="simulate",
        description="reading source (assigned: the sensors the coordinator gives this agent)",
    )
    site_broker: str | None = Field(
        default=None,
        description="mqtt://host:port of the site broker real sensors publish to (assigned)",
    )
    capacity: int | None = Field(
        default=None, ge=0, le=2000, description="at most this many assigned sensors"
    )
    sensors: int = Field(default=50, ge=1, le=100_000, description="simulated sensors")
    sensor_offset: int = Field(default=0, ge=0, description="first simulated sensor number")
    rate: float = Field(default=100.0, ge=0, description="readings/s in total (0: unpaced)")
    count: int | None = Field(default=None, ge=0, description="stop after exactly N readings")
    seed: int | None = Field(default=None, description="simulator seed (deterministic values)")
    # One default with the simulator's own (fleet_model.DEFAULT_ANOMALY_PROBABILITY).
    anomaly_probability: float = Field(
        default=DEFAULT_ANOMALY_PROBABILITY,
        ge=0,
        le=1,
        description="simulator: chance per reading an episode starts",
    )
    mean_episode_s: float = Field(
        default=DEFAULT_MEAN_EPISODE_S,
        gt=0,
        description="simulator: mean anomaly episode length (simulated s)",
    )
    csv: list[Path] = Field(default_factory=list, description="CSV file(s) to replay")
    csv_sep: str | None = Field(default=None, description="CSV separator (default: sniffed)")
    csv_time: Literal["original", "now"] = Field(
        default="now", description="keep the file's timestamps or re-stamp at replay time"
    )
    sensor_type: str | None = Field(default=None, description="sensor type of CSV readings")
    tier: Literal["low", "medium", "high"] = Field(default="low", description="device tier")
    latitude: float | None = Field(default=None, ge=-90, le=90, description="agent latitude")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="agent longitude")
    rules: Path | None = Field(default=None, description="TOML file of per-metric ranges")
    model_pubkey: Path | None = Field(
        default=None,
        description="the coordinator's model-signing public key (PEM): pushed models must be "
        "signed with it (edgewatch keys show)",
    )
    topic_prefix: str = Field(default=DEFAULT_PREFIX, description="MQTT topic prefix")
    mqtt_version: Literal["auto", "5", "3.1.1"] = Field(
        default="auto", description="MQTT protocol (auto: try 5, fall back to 3.1.1)"
    )
    keepalive: int = Field(default=10, ge=2, le=600, description="MQTT keepalive seconds")
    batch_max: int = Field(default=500, ge=1, le=5000, description="readings per batch")
    linger_ms: float = Field(default=50.0, ge=0, description="max wait to fill a batch")
    inflight_max: int = Field(
        default=16, ge=1, le=100_000, description="unacked batches on the wire"
    )
    ack_timeout_s: float = Field(default=10.0, gt=0, description="resend after this")
    # 4M readings: a 10-minute outage of 50 sensors at 100 Hz (3M) fits, with margin.
    outbox_max_rows: int = Field(default=4_000_000, ge=1, description="outbox bound (readings)")
    outbox_max_bytes: int = Field(
        default=1024 * 1024 * 1024, ge=1024, description="outbox bound (bytes of payload)"
    )
    heartbeat_s: float = Field(default=5.0, gt=0, description="heartbeat period")
    metrics_port: int | None = Field(
        default=None, ge=0, lt=65536, description="Prometheus port (off if unset)"
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Prometheus listen address (0.0.0.0: all interfaces)"
    )
    exit_when_drained: bool = Field(
        default=False, description="with --count: exit once everything is acked"
    )
    bundle: Path | None = Field(
        default=None,
        description="enrollment bundle from edgewatch enroll: id, broker, password, CA",
    )
    ca: Path | None = Field(
        default=None, description="CA certificate (PEM) the mqtts:// broker must chain to"
    )
    tls_cert: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    tls_key: Path | None = Field(default=None, description="its private key (PEM)")
    model_public_key: str | None = Field(
        default=None, description="the coordinator's model-signing key (base64 Ed25519)"
    )
    _bundle: Bundle | None = PrivateAttr(default=None)

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        try:
            BrokerAddress.parse(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _from_bundle(self) -> Self:
        # The bundle fills what was not given; its identity cannot be overridden.
        if self.bundle is None:
            return self
        try:
            b = read_bundle(self.bundle)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        if b.role != "agent":
            raise ValueError(f"{self.bundle} is the {b.role} {b.identity}'s bundle, not an agent's")
        given = self.model_fields_set
        if "id" in given and self.id != b.identity:
            raise ValueError(f"--id {self.id} but the bundle enrolls {b.identity!r}: drop --id")
        self.id = b.identity
        if "broker" not in given:
            self.broker = b.broker.replace("://", f"://{b.username}@", 1)
        if "broker_password" not in given and BrokerAddress.parse(self.broker).password is None:
            self.broker_password = b.password
        for name, value in (("topic_prefix", b.topic_prefix), *b.settings.items()):
            if name not in given and name in type(self).model_fields:
                setattr(self, name, value)
        if "model_public_key" not in given:
            self.model_public_key = b.model_public_key
        self._bundle = b
        return self

    @model_validator(mode="after")
    def _tls_flags(self) -> Self:
        check_tls_flags(self.broker, self.ca, self.tls_cert, self.tls_key)
        return self

    def tls_options(self) -> TlsOptions:
        """What an mqtts:// link trusts and shows: --ca/--tls-* files, else the bundle's."""
        return bundle_tls(self._bundle, self.ca, self.tls_cert, self.tls_key)

    @model_validator(mode="after")
    def _password_into_url(self) -> Self:
        # The link reads `broker` alone: the password from its file joins the URL here,
        # in memory only (log it through shared.redact, as everything else does).
        if self.broker_password is not None:
            try:
                self.broker = merge_password(self.broker, self.broker_password.get_secret_value())
            except ConfigError as exc:
                raise ValueError(f"--broker-password-file: {exc}") from exc
        return self
