"""A site made with ``--mutual-tls``: a client must show a certificate of the site CA as
well as its password. A real coordinator and agent run on their bundles (which carry
their certificates); an attacker with a stolen password but no certificate, or with a
certificate of another CA, does not get past the TLS handshake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.coordinator.site import pki
from tests.support.procs import ProcGroup
from tests.support.secure_site import SecureSite, tls_context


@pytest.fixture(scope="module")
def mtls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureSite]:
    root = tmp_path_factory.mktemp("mtls-site")
    group = ProcGroup(root / "logs")
    try:
        site = SecureSite(root / "site", group, mutual_tls=True).start_broker()
        site.start_coordinator()
        yield site
    finally:
        group.close()


def test_bundles_carry_certificates_and_the_site_streams(
    mtls_site: SecureSite, tmp_path: Path
) -> None:
    bundle = mtls_site.enroll("pi-m")
    assert bundle.client_cert_pem and bundle.client_key_pem
    assert mtls_site.coordinator_bundle().client_cert_pem  # the coordinator connected with one
    mtls_site.procs.edgewatch(
        "agent",
        "--bundle",
        str(mtls_site.bundle_path("pi-m")),
        "--data-dir",
        str(tmp_path / "agent"),
        "--count",
        "200",
        "--rate",
        "400",
        name="pi-m",
    )
    mtls_site.wait_stored("agent_id = 'pi-m'", at_least=200)


@pytest.mark.attack("mutual TLS: a stolen password without the client certificate")
def test_a_password_alone_does_not_pass(mtls_site: SecureSite) -> None:
    bundle = mtls_site.enroll("pi-nocert")
    client = mtls_site.attacker(bundle, context=tls_context(mtls_site.ca_pem))
    code = client.connect(timeout=3)
    client.close()
    assert code is None and client.connack is None


@pytest.mark.attack("mutual TLS: a client certificate from another CA")
def test_a_certificate_of_another_ca_does_not_pass(mtls_site: SecureSite) -> None:
    bundle = mtls_site.enroll("pi-otherca")
    other = pki.make_client_cert(pki.make_ca("elsewhere"), bundle.username)
    client = mtls_site.attacker(
        bundle, context=tls_context(mtls_site.ca_pem, other.cert_pem, other.key_pem)
    )
    code = client.connect(timeout=3)
    client.close()
    assert code is None and client.connack is None
    good = mtls_site.attacker(bundle)  # the same identity with its own certificate
    assert good.connect() is not None and good.accepted
    good.close()
