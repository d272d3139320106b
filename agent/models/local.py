"""Models on the agent's disk at start: those an operator put there, and pushed ones.

An operator may copy model files into ``DATA_DIR/models/*.onnx`` by hand (from
``edgewatch train --out``): they load at start, in name order, one per sensor type. When
the agent pins a signing key (``--model-pubkey``) a hand-placed file loads only with a
valid signature beside it (``<file>.sig``, as ``GET /api/v1/models/{id}/signature``
serves it); without a pinned key it loads unsigned, and the log says so.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgewatch.agent.models.keys import TrustedKeys
from edgewatch.agent.models.verify import Refused, check_signature
from edgewatch.shared.errors import ModelError
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.modelpack import ModelSignature

if TYPE_CHECKING:
    from edgewatch.shared.runtime import OnnxScorer

log = logging.getLogger(__name__)


def open_model(data: bytes, source: str) -> OnnxScorer:
    """A scorer on verified ``data``; ``Refused("bad_model")`` if it will not load."""
    try:
        from edgewatch.shared.runtime import OnnxScorer  # onnxruntime: only with a model
    except ImportError as exc:  # the smallest boxes run without the ONNX tier
        raise Refused("no_onnx", f"onnxruntime is not installed: {exc}") from exc
    try:
        return OnnxScorer(replace(read_model_bytes(data), source=source))
    except ModelError as exc:
        raise Refused("bad_model", str(exc)[:160]) from exc


def verify_file(
    data: bytes, signature: ModelSignature | None, keys: TrustedKeys | None
) -> OnnxScorer:
    """Load a file from disk: signed by a key of the chain when one is pinned."""
    scorer = open_model(data, "disk")
    if keys is None:
        return scorer
    if signature is None:
        raise Refused("unsigned", "no signature beside the file")
    digest = hashlib.sha256(data).hexdigest()
    if signature.sensor_type != scorer.sensor_type or signature.version != scorer.version:
        raise Refused("bad_signature", "the signature names another model")
    check_signature(signature, scorer.sensor_type, scorer.version, digest, keys, any_known=True)
    return scorer


def hand_placed(models_dir: Path, keys: TrustedKeys | None) -> tuple[list[OnnxScorer], list[str]]:
    """The loadable hand-placed models (name order) and the refusal reason of each other."""
    loaded: list[OnnxScorer] = []
    refused: list[str] = []
    for path in sorted(models_dir.glob("*.onnx")) if models_dir.is_dir() else []:
        try:
            data = path.read_bytes()
            signature = _signature(path.with_name(path.name + ".sig"))
            scorer = verify_file(data, signature, keys)
        except OSError as exc:
            log.error("cannot read model %s: %s; keeping rules for its type", path, exc)
            refused.append("unreadable")
            continue
        except Refused as exc:
            log.error("refused model %s (%s): %s", path.name, exc.reason, exc.detail)
            refused.append(exc.reason)
            continue
        if keys is None:
            log.warning(
                "loaded %s UNSIGNED from %s: no --model-pubkey is pinned, so nothing is verified",
                scorer.name,
                path.name,
            )
        loaded.append(scorer)
    return loaded, refused


def _signature(path: Path) -> ModelSignature | None:
    if not path.exists():
        return None
    try:
        return ModelSignature.model_validate_json(path.read_bytes())
    except ValueError as exc:
        raise Refused("bad_signature", f"{path.name} is not a signature: {exc}"[:160]) from exc
