"""Enroll, revoke and list the identities of a site: the broker and the store in step.

Enrolling makes the broker identity first (a username, its bound client id, a role of
its own), then records the enrollment in the coordinator's store and the audit log, then
writes the bundle. If the store refuses, the broker identity is removed again, so the
two never disagree about who may connect. Revoking removes the broker identity (the
plugin disconnects it at once) and marks the enrollment revoked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgewatch.coordinator.security.audit import cli_source, record_cli
from edgewatch.coordinator.site.aclfiles import FileAuth
from edgewatch.coordinator.site.dynsec import DynsecAuth
from edgewatch.coordinator.site.hashing import new_secret
from edgewatch.coordinator.site.identity import (
    BrokerAuth,
    BrokerAuthError,
    BrokerClient,
    make_identity,
)
from edgewatch.coordinator.site.init import write_bundle
from edgewatch.coordinator.site.layout import SiteConfig, SiteLayout
from edgewatch.coordinator.site.roles import Role
from edgewatch.coordinator.store import SqliteStore, Store
from edgewatch.coordinator.store.security_records import Enrollment
from edgewatch.shared.bundle import Bundle
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.mqtt_options import BrokerAddress
from edgewatch.shared.tls import TlsOptions
from edgewatch.shared.topics import check_agent_id


@dataclass(frozen=True)
class EnrollRequest:
    identity: str
    role: Role = "agent"
    tier: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    sensor_topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Site:
    """An opened site: its layout and config, and where its store is."""

    layout: SiteLayout
    config: SiteConfig
    db: Path

    @classmethod
    def open(cls, root: Path, db: Path | None = None) -> Site:
        layout = SiteLayout(root)
        config = layout.read_config()
        return cls(layout, config, db or Path(config.db))

    def admin_tls(self) -> TlsOptions:
        # The admin shows a client certificate too when the site asks for mutual TLS.
        if not self.config.mutual_tls:
            return TlsOptions(ca_pem=self.layout.ca_cert.read_text())
        from edgewatch.coordinator.site import pki

        ca = pki.KeyPair(
            self.layout.ca_cert.read_text(), self.layout.read_secret(self.layout.ca_key)
        )
        pair = pki.make_client_cert(ca, self.config.admin_username)
        return TlsOptions(ca.cert_pem, pair.cert_pem, pair.key_pem)

    @contextmanager
    def broker(self) -> Iterator[BrokerAuth]:
        if self.config.auth == "files":
            b = self.layout.broker_dir
            yield FileAuth(self.layout.passwd, self.layout.aclfile, b / "mosquitto.pid")
            return
        address = BrokerAddress(
            self.config.broker_host,
            self.config.mqtt_port,
            username=self.config.admin_username,
            password=self.layout.read_secret(self.layout.admin_secret),
            tls=True,
        )
        with DynsecAuth(address, self.admin_tls()) as auth:
            yield auth

    @contextmanager
    def store(self) -> Iterator[Store]:
        store = SqliteStore(self.db)
        try:
            yield store
        finally:
            store.close()


def enroll(site: Site, req: EnrollRequest, out: Path) -> Bundle:
    """Make ``req.identity`` an identity of ``site`` and write its bundle to ``out``."""
    check_agent_id(req.identity)
    if out.exists():
        raise ConfigError(f"--out {out} exists: refusing to overwrite a bundle")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: no directory {out.parent}")
    c = site.config
    identity = make_identity(
        req.role,
        req.identity,
        prefix=c.topic_prefix,
        sensor_prefix=c.sensor_prefix,
        sensor_topics=list(req.sensor_topics),
    )
    record = Enrollment(
        identity=req.identity,
        role=req.role,
        username=identity.username,
        client_id=identity.client_id,
        enrolled_at=time.time(),
        enrolled_by=cli_source(),
        tier=req.tier,
        latitude=req.latitude,
        longitude=req.longitude,
    )
    secret = new_secret()
    with site.store() as store:
        existing = store.enrollment(req.identity)
        if existing is not None and existing.active:
            raise ConfigError(
                f"{req.identity} is already enrolled (as {existing.role}, "
                f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(existing.enrolled_at))}): "
                f"revoke it first (edgewatch revoke {req.identity} --site {site.layout.root})"
            )
        with site.broker() as broker:
            broker.add(identity, secret)
            try:
                if not store.enroll(record):
                    raise ConfigError(f"{req.identity} was enrolled meanwhile by someone else")
                record_cli(store, "enroll", f"{req.role} {req.identity}")
            except BaseException:
                broker.remove(identity.username)
                raise
        settings: dict[str, object] = {}
        if req.role == "agent":
            settings = {
                k: v
                for k, v in (
                    ("tier", req.tier),
                    ("latitude", req.latitude),
                    ("longitude", req.longitude),
                )
                if v is not None
            }
        return write_bundle(site.layout, c, identity, secret, out, settings=settings)


def revoke(site: Site, identity: str) -> tuple[bool, bool]:
    """(removed from the broker, revoked in the store); ``(False, False)``: unknown.

    The store is revoked even when the broker cannot be reached (the coordinator then
    refuses the identity's results at once); the broker's error is raised after, so the
    operator runs it again once the broker is back.
    """
    with site.store() as store:
        try:
            with site.broker() as broker:
                at_broker = broker.remove(identity)
        except BrokerAuthError as exc:
            if store.revoke_enrollment(identity, time.time(), cli_source()):
                record_cli(store, "revoke", identity, "store only: broker unreachable")
                raise BrokerAuthError(
                    f"{identity} is revoked in the coordinator's store (its results are "
                    f"refused), but the broker was not told: {exc}; run revoke again once "
                    "the broker is up"
                ) from exc
            raise
        in_store = store.revoke_enrollment(identity, time.time(), cli_source())
        if at_broker or in_store:
            record_cli(store, "revoke", identity)
        return at_broker, in_store


@dataclass(frozen=True)
class Listed:
    enrollment: Enrollment
    at_broker: bool | None  # None: the broker could not be asked
    state: str  # online / offline / unknown / never seen (the coordinator's fleet view)
    last_seen: float | None


def list_identities(site: Site, ask_broker: bool = True) -> list[Listed]:
    with site.store() as store:
        records = store.enrollments()
        fleet = {a.id: a for a in store.agents()}
    present: set[str] | None = None
    if ask_broker:
        with site.broker() as broker:
            clients: list[BrokerClient] = broker.clients()
        present = {c.username for c in clients}
    out = []
    for r in records:
        seen = fleet.get(r.identity)
        out.append(
            Listed(
                enrollment=r,
                at_broker=None if present is None else r.username in present,
                state=seen.state if seen else "never seen",
                last_seen=seen.last_seen if seen else None,
            )
        )
    return out
