"""The coordinator's one settings object (flags > EDGEWATCH_* > TOML [coordinator] > defaults).

Also the API token: refused when it is a placeholder; when none is configured, one is
generated once into ``<db dir>/api-token`` (mode 0600) and reused at every later start,
so clients keep working across restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from edgewatch.coordinator.broker.embedded import parse_embedded
from edgewatch.coordinator.store.location import StoreLocation, is_postgres
from edgewatch.shared.bundle import Bundle, bundle_tls, check_tls_flags, read_bundle
from edgewatch.shared.codec import DEFAULT_MAX_BYTES
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.mqtt_options import BrokerAddress, merge_password
from edgewatch.shared.tls import TlsOptions
from edgewatch.shared.topics import AGENT_ID_PATTERN, DEFAULT_PREFIX, Topics

log = logging.getLogger(__name__)
TOKEN_FILE = "api-token"
MODEL_KEY_FILE = "model-signing.key"
MIN_TOKEN_LENGTH = 16
# Values people paste from tutorials; refusing them beats shipping an open API.


def _location(value: object) -> object:
    """A PostgreSQL URL stays a string; anything else is a SQLite path."""
    if isinstance(value, str) and not is_postgres(value):
        return Path(value)
    return value


_PLACEHOLDERS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "password", "token", "admin", "test"}
)


class CoordinatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDGEWATCH_", extra="forbid")

    broker: str = Field(
        default="embedded", description="embedded, embedded:PORT or mqtt://[user:pass@]host:port"
    )
    broker_password: SecretStr | None = Field(
        default=None, description="broker password (the URL keeps the user); prefer the -file form"
    )
    db: Annotated[StoreLocation, BeforeValidator(_location)] = Field(
        default=Path("var/coordinator/edgewatch.db"),
        description="SQLite file, or postgresql://user@host:port/database",
    )
    host: str = Field(default="127.0.0.1", description="API listen address")
    port: int = Field(default=8000, ge=0, lt=65536, description="API listen port")
    topic_prefix: str = Field(default=DEFAULT_PREFIX, description="MQTT topic prefix")
    mqtt_version: Literal["auto", "5", "3.1.1"] = Field(
        default="auto", description="MQTT protocol (auto: try 5, fall back to 3.1.1)"
    )
    api_token: SecretStr | None = Field(
        default=None, description="bearer token for the API (else kept in <db dir>/api-token)"
    )
    max_payload_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, ge=1024, description="largest MQTT payload accepted"
    )
    max_future_skew_s: float = Field(
        default=86_400.0, gt=0, description="refuse readings further in the future than this"
    )
    share_group: str | None = Field(
        default=None,
        description="shared-subscription group of several replicas (PostgreSQL store)",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
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
    assignment: str = Field(
        default="consistent_hash",
        description="sensor assignment strategy: round_robin, least_loaded, geo_proximity, "
        "consistent_hash",
    )
    simulated_fleet: int = Field(
        default=0, ge=0, le=100_000, description="register N simulated sensors SENSOR_000.."
    )
    seed: int = Field(default=42, ge=0, description="seed of the simulated fleet")
    sim_rate_hz: float = Field(
        default=1.0, gt=0, le=1000, description="readings/s of each simulated sensor"
    )
    agent_timeout_s: float = Field(
        default=15.0, gt=0, description="an agent silent this long is lost (its sensors move)"
    )
    hold_down_s: float = Field(
        default=30.0, ge=0, description="a lost agent that returns gets sensors after this"
    )
    handover_timeout_s: float = Field(
        default=30.0, gt=0, description="a planned move's old owner lets go after this at most"
    )
    converge_timeout_s: float = Field(
        default=30.0, gt=0, description="an agent behind its desired state this long is stuck"
    )
    model_key_file: Path | None = Field(
        default=None,
        description="model-signing private key, shared by replicas (else <db dir>/"
        "model-signing.key, created 0600 at the first start)",
    )
    train_interval_s: float = Field(
        default=0.0, ge=0, description="retrain each type this often when new data came (0: off)"
    )
    train_min_new: int = Field(
        default=10_000, ge=1, description="scheduled training: new readings of a type needed"
    )
    train_window_s: float = Field(
        default=7 * 86_400.0, gt=0, description="train on readings of the last this many seconds"
    )
    train_min_rows: int = Field(
        default=1000, ge=2, description="refuse to train on fewer clean readings"
    )
    train_max_rows: int = Field(
        default=100_000, ge=2, le=5_000_000, description="train on at most the newest N readings"
    )
    auto_rollout: str | None = Field(
        default=None,
        description="roll every scheduled model out with this canary, e.g. 10% (unset: off)",
    )
    gate_soak_s: float = Field(
        default=600.0, ge=0, le=3600, description="rollout quality gate: canary soak period"
    )
    gate_min_readings: int = Field(
        default=200, ge=1, description="rollout gate: readings each side needs to be judged"
    )
    gate_rate_low: float = Field(
        default=0.5, gt=0, le=1, description="rollout gate: lowest canary/baseline anomaly rate"
    )
    gate_rate_high: float = Field(
        default=2.0, ge=1, description="rollout gate: highest canary/baseline anomaly rate"
    )
    gate_max_shift: float = Field(
        default=0.3, gt=0, le=1, description="rollout gate: largest score distribution shift"
    )
    gate_min_agreement: float = Field(
        default=0.9, ge=0, le=1, description="rollout gate: least agreement with the cloud"
    )
    rescore_sample: float = Field(
        default=0.05, ge=0, le=1, description="share of model-judged readings the cloud re-scores"
    )
    aggregates: bool = Field(
        default=True, description="keep 1m/5m/15m/1h windows per sensor, type, agent, fleet"
    )
    alerts: bool = Field(default=True, description="run the alert engine (needs --aggregates)")
    alert_rules: Path | None = Field(
        default=None, description="TOML file of alert rules and webhooks (docs/alerts.md)"
    )
    retention_raw_days: float = Field(
        default=30.0, ge=0, description="keep raw readings this long after storing (0: forever)"
    )
    retention_1m_days: float = Field(default=7.0, ge=0, description="keep 1m windows (0: forever)")
    retention_5m_days: float = Field(default=30.0, ge=0, description="keep 5m windows (0: forever)")
    retention_15m_days: float = Field(
        default=90.0, ge=0, description="keep 15m windows (0: forever)"
    )
    retention_1h_days: float = Field(
        default=730.0, ge=0, description="keep 1h windows (0: forever)"
    )
    bundle: Path | None = Field(
        default=None,
        description="coordinator bundle from edgewatch site init: broker, identity, CA",
    )
    ca: Path | None = Field(
        default=None, description="CA certificate (PEM) the mqtts:// broker must chain to"
    )
    tls_cert: Path | None = Field(default=None, description="client certificate (mutual TLS)")
    tls_key: Path | None = Field(default=None, description="its private key (PEM)")
    require_enrollment: bool = Field(
        default=False,
        description="accept results only from agents enrolled with edgewatch enroll",
    )
    metrics_open: bool = Field(
        default=False, description="serve /metrics without a token (else a read token)"
    )
    auth_fail_limit: int = Field(
        default=10, ge=1, description="failed API logins per address and minute before 429"
    )
    _bundle: Bundle | None = PrivateAttr(default=None)

    leader_ttl_s: float = Field(
        default=5.0,
        ge=1.0,
        le=60.0,
        description="a replica that stalls this long loses its singleton duties (PostgreSQL)",
    )

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        try:
            if parse_embedded(value) is None:
                BrokerAddress.parse(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
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
        problem = token_problem(value.get_secret_value())
        if problem is not None:
            raise ValueError(
                f"is {problem}; set a random one or leave it unset to have one generated"
            )
        return value

    @model_validator(mode="after")
    def _from_bundle(self) -> Self:
        # The bundle fills what was not given (flags and variables still win).
        if self.bundle is None:
            return self
        try:
            b = read_bundle(self.bundle)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        if b.role != "coordinator":
            raise ValueError(
                f"{self.bundle} is the {b.role} {b.identity}'s bundle, not a coordinator's"
            )
        given = self.model_fields_set
        if "broker" not in given:
            self.broker = b.broker.replace("://", f"://{b.username}@", 1)
        if "broker_password" not in given and BrokerAddress.parse(self.broker).password is None:
            self.broker_password = b.password
        defaults = {
            "client_id": b.client_id,
            "topic_prefix": b.topic_prefix,
            "require_enrollment": True,
            **b.settings,
        }
        for name, value in defaults.items():
            if name not in given and name in type(self).model_fields:
                setattr(self, name, Path(value) if name == "db" else value)
        self._bundle = b
        return self

    @model_validator(mode="after")
    def _tls_flags(self) -> Self:
        check_tls_flags(self.broker, self.ca, self.tls_cert, self.tls_key)
        return self

    def tls_options(self) -> TlsOptions:
        """What the mqtts:// link trusts and shows: --ca/--tls-* files, else the bundle's."""
        return bundle_tls(self._bundle, self.ca, self.tls_cert, self.tls_key)

    @model_validator(mode="after")
    def _password_into_url(self) -> Self:
        # The link reads `broker` alone: the password from its file joins the URL here,
        # in memory only (everything that logs the URL goes through shared.redact).
        if self.broker_password is None:
            return self
        if self.embedded_port is not None:
            raise ValueError("--broker-password-file: the embedded broker takes no password")
        try:
            self.broker = merge_password(self.broker, self.broker_password.get_secret_value())
        except ConfigError as exc:
            raise ValueError(f"--broker-password-file: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _replicas_need_postgres(self) -> Self:
        if self.share_group is None:
            return self
        if self.embedded_port is not None:
            raise ValueError("--share-group needs an external broker ($share/... subscriptions)")
        if not is_postgres(self.db):
            raise ValueError(
                "--share-group: replicas need a shared store (--db postgresql://...), "
                "not a SQLite file of their own"
            )
        return self

    @model_validator(mode="after")
    def _alerts_need_aggregates(self) -> Self:
        if self.alerts and not self.aggregates:
            raise ValueError("--alerts needs --aggregates (or turn alerts off: --no-alerts)")
        return self

    @model_validator(mode="after")
    def _postgres_needs_a_token(self) -> Self:
        # Replicas must answer one token; a generated one would differ per process.
        if is_postgres(self.db) and self.api_token is None:
            raise ValueError(
                "--db postgresql://...: set --api-token-file FILE (every replica of a "
                "PostgreSQL store must accept the same token)"
            )
        return self

    @model_validator(mode="after")
    def _postgres_needs_a_key(self) -> Self:
        if is_postgres(self.db) and self.model_key_file is None:
            raise ValueError(
                "--db postgresql://...: set --model-key-file FILE (the model-signing key "
                "every replica signs with; edgewatch keys show --db URL prints its public key)"
            )
        return self

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file of the store, or None for PostgreSQL."""
        return None if is_postgres(self.db) else Path(self.db)

    @property
    def embedded_port(self) -> int | None:
        """The embedded broker's port, or None when the broker is external."""
        return parse_embedded(self.broker)

    @property
    def token_path(self) -> Path:
        # A PostgreSQL store always has a configured token (_postgres_needs_a_token).
        return (self.sqlite_path or Path(".")).parent / TOKEN_FILE

    @property
    def model_key_path(self) -> Path:
        # A PostgreSQL store always has a configured key file (_postgres_needs_a_key):
        # replicas sign with one key, never one per process.
        return self.model_key_file or (self.sqlite_path or Path(".")).parent / MODEL_KEY_FILE


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot guard the API (it is never quoted), or None if it can."""
    if token.strip().lower() in _PLACEHOLDERS or len(token) < MIN_TOKEN_LENGTH:
        return f"a placeholder or shorter than {MIN_TOKEN_LENGTH} characters"
    return None


def ensure_api_token(settings: CoordinatorSettings) -> str:
    """The configured token, else the one kept in ``settings.token_path``.

    The file is written once (0600, atomically) and reused at every later start, so a
    restart does not lock every client out. Delete it to rotate the token. A file
    others can read is narrowed back to 0600, with a warning: the token may have leaked.
    """
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    path = settings.token_path
    try:
        if path.exists():
            return _read_token(path)
        return _write_token(path)
    except OSError as exc:
        raise ConfigError(f"API token file {path}: {exc.strerror or exc}") from exc


def _read_token(path: Path) -> str:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        os.chmod(path, 0o600)
        log.warning(
            "API token file %s was readable by others (mode %o): now 0600; "
            "delete it and restart to rotate the token if it may have leaked",
            path,
            mode,
        )
    token = path.read_text(encoding="utf-8").strip()
    problem = token_problem(token)
    if problem is not None:
        raise ConfigError(f"API token file {path} holds {problem}: delete it to have one generated")
    log.info("API token: reusing %s", path)
    return token


def _write_token(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # O_CREAT with 0600 so the token is never readable by others, not even for a moment;
    # written beside and renamed, so a crash never leaves a half-written token behind.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # whatever the umask did
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("no API token configured: generated one into %s (kept across restarts)", path)
    return token
