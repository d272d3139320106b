"""Ed25519 signatures of model files and of signing keys, as both sides compute them.

The coordinator signs; the agent verifies with the public key it pinned
(``--model-pubkey``) and the keys that key endorsed since. What is signed is never the
raw file alone but a **statement** naming what the file is for, so a valid signature of
one model cannot be replayed as another type, tier or version::

    edgewatch.model-signature/1
    {"sensor_type":"industrial","sha256":"<hex>","tier":"high","version":1796154926}

A key rotation publishes the new public key with an **endorsement**: the old key's
signature of ``edgewatch.key-endorsement/1\\n{"key_id":..., "public_key":...}``. An agent
moves to a key only along such a chain from the key it pinned.

``cryptography`` is imported on first use only: an agent that never verifies a model
(rules only, or no key pinned) does not pay its ~6 MB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from edgewatch.shared.errors import ModelError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

MODEL_STATEMENT = b"edgewatch.model-signature/1\n"
KEY_STATEMENT = b"edgewatch.key-endorsement/1\n"
MAX_PEM_BYTES = 1024


def model_statement(sensor_type: str, tier: str, version: int, sha256: str) -> bytes:
    """The bytes a model's signature covers: its digest, type, tier and version."""
    body = {"sensor_type": sensor_type, "sha256": sha256, "tier": tier, "version": version}
    return MODEL_STATEMENT + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def key_statement(key_id: str, public_pem: str) -> bytes:
    """The bytes an endorsement of a new signing key covers."""
    body = {"key_id": key_id, "public_key": public_pem}
    return KEY_STATEMENT + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def key_id_of(raw_public: bytes) -> str:
    """A short, stable name of a public key: the first 16 hex digits of its sha256."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


def encode_signature(signature: bytes) -> str:
    return base64.b64encode(signature).decode("ascii")


def decode_signature(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ModelError("signature is not base64") from exc
    if len(raw) != 64:
        raise ModelError(f"an Ed25519 signature has 64 bytes, not {len(raw)}")
    return raw


@dataclass(frozen=True)
class VerifyKey:
    """A public key: its id, its PEM text, and the means to check a signature."""

    key_id: str
    pem: str
    _key: Ed25519PublicKey

    @staticmethod
    def from_pem(pem: bytes | str) -> VerifyKey:
        """Parse an Ed25519 public key in PEM (SubjectPublicKeyInfo); raises ``ModelError``."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
        if len(data) > MAX_PEM_BYTES:
            raise ModelError(f"public key longer than {MAX_PEM_BYTES} bytes")
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"not a PEM public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ModelError(f"not an Ed25519 key but {type(key).__name__}")
        return VerifyKey.of(key)

    @staticmethod
    def of(key: Ed25519PublicKey) -> VerifyKey:
        from cryptography.hazmat.primitives import serialization

        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")
        return VerifyKey(key_id_of(raw), pem, key)

    def verify(self, statement: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._key.verify(signature, statement)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignKey:
    """A private signing key (coordinator only) and its public half."""

    public: VerifyKey
    _key: Ed25519PrivateKey

    @staticmethod
    def generate() -> SignKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        return SignKey(VerifyKey.of(key.public_key()), key)

    @staticmethod
    def from_pem(pem: bytes) -> SignKey:
        """Parse an unencrypted PKCS#8 Ed25519 private key; raises ``ModelError``."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            # Never the content: it is a secret.
            raise ModelError(f"not a PEM private key ({type(exc).__name__})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ModelError(f"not an Ed25519 private key but {type(key).__name__}")
        return SignKey(VerifyKey.of(key.public_key()), key)

    def private_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def sign(self, statement: bytes) -> bytes:
        return self._key.sign(statement)
