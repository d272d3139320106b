"""The keys an agent trusts to sign models: the one it pinned, and those it endorsed since.

``--model-pubkey FILE`` pins the coordinator's public key (PEM). When the coordinator
rotates its key (``edgewatch keys rotate``) it publishes the ``KeyChain`` retained on
``{prefix}/keys``: each key endorsed by the one before. The agent follows the chain only
from a key it already trusts, one verified endorsement at a time, and then verifies new
pushes with the newest key only: a rotation is a move, so a model signed by the old key
after the move is refused. Files already on its disk stay loadable under any key of
the chain (they were verified when they were written).

The chain the agent followed is kept in ``DATA_DIR/model-keys.json``, so a restart does
not forget a rotation; pinning another key (a re-enrolled agent) starts afresh.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from edgewatch.shared.errors import ConfigError, ModelError
from edgewatch.shared.files import write_atomic
from edgewatch.shared.modelpack import KeyChain
from edgewatch.shared.signing import VerifyKey, decode_signature, key_statement

log = logging.getLogger(__name__)
STATE_FILE = "model-keys.json"


class TrustedKeys:
    """The pinned key and the chain of keys it (transitively) endorsed, oldest first."""

    def __init__(self, chain: list[VerifyKey], state: Path | None = None) -> None:
        if not chain:
            raise ValueError("a trusted chain starts with the pinned key")
        self._chain = list(chain)
        self._state = state

    @staticmethod
    def load(pinned: Path, data_dir: Path) -> TrustedKeys:
        """The pinned key from ``pinned`` plus the chain followed before; ``ConfigError``
        when the file is not an Ed25519 public key (named, never printed)."""
        try:
            root = VerifyKey.from_pem(pinned.read_bytes())
        except OSError as exc:
            raise ConfigError(f"--model-pubkey {pinned}: {exc.strerror or exc}") from exc
        except ModelError as exc:
            raise ConfigError(f"--model-pubkey {pinned}: {exc}") from exc
        state = data_dir / STATE_FILE
        chain = [root]
        try:
            saved = json.loads(state.read_text(encoding="utf-8"))
            keys = [VerifyKey.from_pem(pem) for pem in saved["keys"]]
            if keys and keys[0].key_id == root.key_id:
                chain = keys
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, ModelError) as exc:
            log.warning("ignoring %s (%s): starting from the pinned key", state, exc)
        trusted = TrustedKeys(chain, state)
        log.info(
            "model signatures: pinned key %s%s",
            root.key_id,
            f", now key {trusted.current.key_id}" if len(chain) > 1 else "",
        )
        return trusted

    @property
    def current(self) -> VerifyKey:
        """The key new pushes must be signed with."""
        return self._chain[-1]

    def known(self, key_id: str) -> VerifyKey | None:
        """Any key of the chain (for files already on disk)."""
        return next((k for k in self._chain if k.key_id == key_id), None)

    def follow(self, chain: KeyChain) -> list[str]:
        """Move along ``chain`` from the current key; returns the key ids moved to.

        Raises ``ModelError`` when an endorsement by a key we trust does not verify, or
        the chain does not contain our current key at all (a coordinator with other keys).
        """
        ids = [k.key_id for k in chain.keys]
        if self.current.key_id not in ids:
            raise ModelError(f"key chain {ids[-3:]} does not contain our key {self.current.key_id}")
        moved: list[str] = []
        for entry in chain.keys[ids.index(self.current.key_id) + 1 :]:
            if entry.endorsed_by != self.current.key_id or entry.endorsement is None:
                raise ModelError(f"key {entry.key_id} is not endorsed by {self.current.key_id}")
            key = VerifyKey.from_pem(entry.public_key)
            if key.key_id != entry.key_id:
                raise ModelError(f"key {entry.key_id} is named after another key")
            statement = key_statement(entry.key_id, key.pem)
            if not self.current.verify(statement, decode_signature(entry.endorsement)):
                raise ModelError(f"endorsement of key {entry.key_id} does not verify")
            self._chain.append(key)
            moved.append(key.key_id)
        if moved:
            self._save()
            log.info("model signatures: moved to key %s (endorsed chain)", self.current.key_id)
        return moved

    def _save(self) -> None:
        if self._state is None:
            return
        data = json.dumps({"keys": [k.pem for k in self._chain]}, indent=1).encode()
        try:
            write_atomic(self._state, data)
        except OSError as exc:  # the move holds for this run; the next start re-follows
            log.warning("cannot save the key chain to %s: %s", self._state, exc)
