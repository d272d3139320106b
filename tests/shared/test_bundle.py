"""Enrollment bundles: written private, read strictly, applied as the settings' defaults
(flags and variables still win, the identity cannot be overridden), TLS taken from it."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pytest

from edgewatch.agent.settings import AgentSettings
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.coordinator.site.enrollment import EnrollRequest, Site
from edgewatch.coordinator.site.identity import make_identity
from edgewatch.coordinator.site.init import SiteRequest, init_site, write_bundle
from edgewatch.shared.bundle import read_bundle
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.settings import add_settings_arguments, load_settings


@pytest.fixture
def site(tmp_path: Path) -> Site:
    init_site(SiteRequest(tmp_path / "site", mqtt_port=18999, hosts=("broker.lan",)))
    return Site.open(tmp_path / "site")


def _agent_bundle(site: Site, tmp_path: Path, **kw: object) -> Path:
    req = EnrollRequest(identity="pi-7", **kw)  # type: ignore[arg-type]
    ident = make_identity("agent", req.identity, prefix="edgewatch", sensor_prefix="site/sensors")
    out = tmp_path / "pi-7.bundle"
    write_bundle(
        site.layout,
        site.config,
        ident,
        "s3cret-" + "x" * 20,
        out,
        settings={"tier": "high", "latitude": 52.5, "longitude": 13.4},
    )
    return out


def _load(cls: type, argv: list[str], section: str) -> object:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, cls)
    return load_settings(cls, parser.parse_args(argv), section)


def test_a_bundle_is_private_and_read_back_whole(site: Site, tmp_path: Path) -> None:
    path = _agent_bundle(site, tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    bundle = read_bundle(path)
    assert (bundle.role, bundle.identity, bundle.broker) == (
        "agent",
        "pi-7",
        "mqtts://broker.lan:18999",
    )
    assert bundle.client_id == "edgewatch-agent-pi-7" and "BEGIN CERTIFICATE" in bundle.ca_pem
    assert bundle.model_public_key == site.layout.signing_pub.read_text().strip()
    assert "s3cret" not in repr(bundle)


def test_a_readable_bundle_is_warned_about_and_garbage_refused(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _agent_bundle(site, tmp_path)
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING):
        read_bundle(path)
    assert "readable by others" in caplog.text
    junk = tmp_path / "junk.bundle"
    junk.write_text('{"role": "agent", "password": "hunter2-hunter2"}')
    with pytest.raises(ConfigError) as err:
        read_bundle(junk)
    assert "not an edgewatch bundle" in str(err.value) and "hunter2" not in str(err.value)


def test_the_agent_runs_as_its_bundle_says(site: Site, tmp_path: Path) -> None:
    path = _agent_bundle(site, tmp_path)
    s = _load(AgentSettings, ["--bundle", str(path), "--tier", "low"], "agent")
    assert isinstance(s, AgentSettings)
    assert s.id == "pi-7" and s.broker == "mqtts://pi-7:s3cret-" + "x" * 20 + "@broker.lan:18999"
    assert (s.tier, s.latitude, s.longitude) == ("low", 52.5, 13.4)  # the flag wins
    assert s.model_public_key == site.layout.signing_pub.read_text().strip()
    tls = s.tls_options()
    assert tls.ca_pem == site.layout.ca_cert.read_text() and not tls.mutual
    with pytest.raises(ConfigError, match="--id pi-8 but the bundle enrolls 'pi-7'"):
        _load(AgentSettings, ["--bundle", str(path), "--id", "pi-8"], "agent")


def test_the_coordinator_runs_as_its_bundle_says(site: Site) -> None:
    s = _load(CoordinatorSettings, ["--bundle", str(site.layout.coordinator_bundle)], "coordinator")
    assert isinstance(s, CoordinatorSettings)
    assert s.client_id == "coordinator" and s.require_enrollment
    assert s.db == Path(site.config.db) and s.broker.startswith("mqtts://coordinator:")
    with pytest.raises(ConfigError, match="the coordinator coordinator's bundle, not an agent's"):
        _load(AgentSettings, ["--bundle", str(site.layout.coordinator_bundle)], "agent")


def test_tls_flags_need_mqtts(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="need an mqtts:// broker"):
        _load(AgentSettings, ["--ca", str(ca)], "agent")
    with pytest.raises(ConfigError, match="go together"):
        _load(AgentSettings, ["--broker", "mqtts://h:1", "--tls-cert", str(ca)], "agent")
