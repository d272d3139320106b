"""Checking a pushed model package before a byte of it is parsed by onnxruntime.

``check_package`` takes the raw MQTT payload and what the desired state ordered, and
returns the file's bytes, or raises ``Refused`` with a stable reason (counted in the
agent's reported state, ``models_refused``):

=============== ==========================================================================
reason          the package ...
=============== ==========================================================================
malformed       is not a well-formed ``ModelPackage`` (JSON, base64, bounds)
too_large       is larger than a model file may be (8 MiB)
no_key_pinned   cannot be verified: the agent has no ``--model-pubkey``
unsigned        carries no signature
wrong_key       is signed with a key other than the one the agent trusts now
bad_signature   has a signature that does not verify for this type, tier, version, hash
hash_mismatch   holds bytes whose sha256 is not the one ordered and signed
wrong_type      is (or holds a model) for another sensor type than ordered
wrong_version   is (or holds a model) of another version than ordered
older           is older than the model running, without a rollback order
bad_model       does not load (``ModelError``: onnxruntime, metadata, feature names)
=============== ==========================================================================
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from edgewatch.agent.models.keys import TrustedKeys
from edgewatch.shared.codec import decode
from edgewatch.shared.desired import ModelOrder
from edgewatch.shared.errors import ModelError, PayloadError
from edgewatch.shared.modelpack import MAX_PACKAGE_BYTES, ModelPackage, ModelSignature
from edgewatch.shared.signing import decode_signature, model_statement

REASONS = (
    "malformed",
    "too_large",
    "no_key_pinned",
    "unsigned",
    "wrong_key",
    "bad_signature",
    "hash_mismatch",
    "wrong_type",
    "wrong_version",
    "older",
    "bad_model",
)


class Refused(Exception):
    """A model was refused; ``reason`` is one of ``REASONS`` (or ``write_failed``)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def open_package(payload: bytes) -> ModelPackage:
    try:
        return decode(payload, ModelPackage, max_bytes=MAX_PACKAGE_BYTES)
    except PayloadError as exc:
        reason = "too_large" if exc.reason == "too_large" else "malformed"
        raise Refused(reason, str(exc)[:160]) from exc


def check_package(
    payload: bytes, *, sensor_type: str, order: ModelOrder, keys: TrustedKeys | None
) -> tuple[bytes, ModelSignature]:
    """The verified file bytes of ``payload`` and their signature, or ``Refused``."""
    package = open_package(payload)
    if package.sensor_type != sensor_type:
        raise Refused("wrong_type", f"package for {package.sensor_type!r}, ordered {sensor_type!r}")
    if package.version != order.version:
        raise Refused("wrong_version", f"package v{package.version}, ordered v{order.version}")
    try:
        data = base64.b64decode(package.data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused("malformed", "data is not base64") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != package.sha256 or digest != order.sha256:
        raise Refused("hash_mismatch", f"file sha256 {digest[:12]}, ordered {order.sha256[:12]}")
    if keys is None:
        raise Refused("no_key_pinned", "start the agent with --model-pubkey to accept pushes")
    signature = package.signature
    if signature is None:
        raise Refused("unsigned", "the package has no signature")
    check_signature(signature, sensor_type, order.version, digest, keys, any_known=False)
    return data, signature


def check_signature(
    signature: ModelSignature,
    sensor_type: str,
    version: int,
    sha256: str,
    keys: TrustedKeys,
    *,
    any_known: bool,
) -> None:
    """Raise ``Refused`` unless ``signature`` signs exactly this type, version and hash
    with the current key (``any_known``: any key of the chain, for files on disk)."""
    key = keys.known(signature.key_id) if any_known else None
    if not any_known and signature.key_id == keys.current.key_id:
        key = keys.current
    if key is None:
        raise Refused(
            "wrong_key", f"signed by key {signature.key_id}, trusted {keys.current.key_id}"
        )
    statement = model_statement(sensor_type, signature.tier, version, sha256)
    try:
        raw = decode_signature(signature.signature)
    except ModelError as exc:
        raise Refused("bad_signature", str(exc)) from exc
    if not key.verify(statement, raw):
        raise Refused("bad_signature", f"does not verify for {sensor_type}@{version}")
