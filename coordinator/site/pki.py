"""A site's private PKI, made with ``cryptography``: one CA, the broker's certificate,
client certificates for mutual TLS, and the model-signing key pair.

Keys are ECDSA P-256 (fast on a Raspberry Pi, accepted by every TLS stack Mosquitto and
Python use); the model-signing key is Ed25519 (what ``DESIGN.md`` names for models).
The CA is a path-length-0 CA: it signs leaf certificates only.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
# Browsers cap leaf certificates at 825 days; keep to it so no tool balks at ours.
LEAF_DAYS = 825


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as PEM text."""

    cert_pem: str
    key_pem: str = field(repr=False)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edgewatch"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(site: str) -> KeyPair:
    """A new CA for ``site``: signs the broker's and the clients' certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"edgewatch site CA {site}")
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def _leaf(
    ca: KeyPair,
    common_name: str,
    usage: x509.ObjectIdentifier,
    names: list[x509.GeneralName],
) -> KeyPair:
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.encode())
    ca_key = serialization.load_pem_private_key(ca.key_pem.encode(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the site CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key))


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make_server_cert(ca: KeyPair, hosts: list[str]) -> KeyPair:
    """The broker's certificate, valid for every name and address in ``hosts``."""
    if not hosts:
        raise ValueError("the broker certificate needs at least one host name")
    names = [_general_name(h) for h in dict.fromkeys(hosts)]
    return _leaf(ca, hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, names)


def make_client_cert(ca: KeyPair, username: str) -> KeyPair:
    """A client certificate for mutual TLS; its common name is the broker username."""
    return _leaf(ca, username, ExtendedKeyUsageOID.CLIENT_AUTH, [])


def make_signing_key() -> tuple[str, str]:
    """A model-signing Ed25519 key pair: (private key PEM, public key as raw base64)."""
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _key_pem(key), base64.b64encode(raw).decode()
