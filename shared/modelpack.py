"""Models and signing keys on the wire: what the coordinator publishes for agents to fetch.

Two retained topics (``shared.topics``):

- ``{prefix}/models/{type}/{version}``: a ``ModelPackage``, the model file (base64) with
  its ``ModelSignature``. Retained, so an agent that subscribes when its desired state
  names that version (or returns after an outage) gets it at once, over the connection
  and credentials it already has: no second channel, no API token on the edge, and MQTT
  QoS 1 redelivers the whole message after a broken link.
- ``{prefix}/keys``: the ``KeyChain``, every public signing key with the endorsement by
  its predecessor, so agents follow a ``keys rotate``.

The signature is also what an agent keeps beside a pushed file (``<file>.sig``), and what
an operator puts beside a model copied by hand when the agent pins a key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from edgewatch.shared.modelfile import MAX_FILE_BYTES
from edgewatch.shared.schemas import SensorType, Sha256, Timestamp, Version, WireModel

KeyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16}$")]
# 64 bytes in base64: 86 characters and the padding.
SignatureText = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{86}==$")]
PemText = Annotated[str, StringConstraints(min_length=40, max_length=1024)]
ModelTier = Literal["medium", "high"]
MAX_DATA_CHARS = (MAX_FILE_BYTES + 2) // 3 * 4
# A package is its base64 body plus a few hundred bytes of JSON around it.
MAX_PACKAGE_BYTES = MAX_DATA_CHARS + 4096


class ModelSignature(WireModel):
    """The coordinator's Ed25519 signature of ``shared.signing.model_statement``."""

    schema_version: Literal[1] = 1
    sensor_type: SensorType
    tier: ModelTier
    version: Version
    sha256: Sha256
    key_id: KeyId
    signature: SignatureText


class ModelPackage(WireModel):
    """One model version as published: the file and its signature (None: unsigned)."""

    schema_version: Literal[1] = 1
    sensor_type: SensorType
    version: Version
    sha256: Sha256
    signature: ModelSignature | None
    data: str = Field(min_length=4, max_length=MAX_DATA_CHARS)


class EndorsedKey(WireModel):
    """A public signing key; every key but the first is endorsed by the one before."""

    key_id: KeyId
    public_key: PemText
    created_at: Timestamp
    endorsed_by: KeyId | None = None
    endorsement: SignatureText | None = None


class KeyChain(WireModel):
    """Every signing key the coordinator has used, oldest first; the last one signs."""

    schema_version: Literal[1] = 1
    keys: list[EndorsedKey] = Field(min_length=1, max_length=64)


def refusal_note(sensor_type: str, version: int, reason: str, detail: str) -> str:
    """How an agent names a refused model in ``reported.errors`` (the gate reads it)."""
    return f"{refusal_prefix(sensor_type, version)}{reason}): {detail}"[:200]


def refusal_prefix(sensor_type: str, version: int) -> str:
    return f"refused model {sensor_type}@{version} ("
