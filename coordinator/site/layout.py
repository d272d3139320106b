"""A site directory: where ``edgewatch site init`` puts each file, and what it chose.

::

    DIR/site.json            what the site is: name, broker host and port, auth, prefix
    DIR/mosquitto.conf       the broker's whole config: mosquitto -c DIR/mosquitto.conf
    DIR/ca.crt               the site CA (public: every bundle carries a copy)
    DIR/ca.key          0600 the CA's key: signs the broker's and clients' certificates
    DIR/admin.secret    0600 the broker admin's password (enroll, revoke, agents list)
    DIR/coordinator.bundle   the coordinator's identity (0600)
    DIR/model-signing.key    the coordinator's Ed25519 model-signing key (0600)
    DIR/model-signing.pub    its public half (base64), pinned by every agent bundle
    DIR/broker/         0700 the broker's own: server.crt, server.key,
                             dynamic-security.json (or passwd and acl), data/

Only ``broker/`` (and ``ca.crt``) must be readable by the broker; the rest stays with
the coordinator's operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgewatch.shared.errors import ConfigError

AuthMode = Literal["dynsec", "files"]
SITE_FORMAT: Literal["edgewatch.site/1"] = "edgewatch.site/1"
ADMIN_USER = "edgewatch-admin"


class SiteConfig(BaseModel):
    """``DIR/site.json``: written once by ``site init``, read by every later command."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["edgewatch.site/1"] = SITE_FORMAT
    name: str
    broker_host: str = Field(description="the host name in every bundle's broker URL")
    hosts: list[str]
    mqtt_port: int
    auth: AuthMode
    mutual_tls: bool
    topic_prefix: str
    sensor_prefix: str
    db: str = Field(description="the coordinator's store: enrollments are recorded there")
    admin_username: str = ADMIN_USER
    created_at: float

    @property
    def broker_url(self) -> str:
        return f"mqtts://{self.broker_host}:{self.mqtt_port}"


@dataclass(frozen=True)
class SiteLayout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "site.json"

    @property
    def mosquitto_conf(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def admin_secret(self) -> Path:
        return self.root / "admin.secret"

    @property
    def coordinator_bundle(self) -> Path:
        return self.root / "coordinator.bundle"

    @property
    def signing_key(self) -> Path:
        return self.root / "model-signing.key"

    @property
    def signing_pub(self) -> Path:
        return self.root / "model-signing.pub"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def server_cert(self) -> Path:
        return self.broker_dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.broker_dir / "server.key"

    @property
    def dynsec_json(self) -> Path:
        return self.broker_dir / "dynamic-security.json"

    @property
    def passwd(self) -> Path:
        return self.broker_dir / "passwd"

    @property
    def aclfile(self) -> Path:
        return self.broker_dir / "acl"

    @property
    def data_dir(self) -> Path:
        return self.broker_dir / "data"

    def read_config(self) -> SiteConfig:
        """The site's ``site.json``, or a one-line error saying how to make one."""
        try:
            raw = self.config.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"--site {self.root}: no site there ({exc.strerror or exc}); "
                f"make one with: edgewatch site init {self.root}"
            ) from exc
        try:
            return SiteConfig.model_validate_json(raw)
        except ValidationError:
            raise ConfigError(
                f"--site {self.root}: site.json is not a {SITE_FORMAT} file"
            ) from None

    def read_secret(self, path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"--site {self.root}: cannot read {path.name}: {exc.strerror}"
            ) from exc
