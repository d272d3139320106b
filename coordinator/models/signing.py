"""The coordinator's model-signing key: a secret file for the private half, the store for
the public chain.

- The **private key** lives in one file (``--model-key-file``, default
  ``<db dir>/model-signing.key``, mode 0600, PKCS#8 PEM), created at the first start.
  Replicas share it as a secret file (a mounted secret), never one key per process.
- The **public keys** live in the store (``ModelStore.signing_keys``), oldest first, each
  endorsed by its predecessor: that chain is what agents follow after a rotation.

``rotate()`` makes a new key, has the old one endorse it, records it in the store, then
replaces the file (``<file>.new`` first, renamed last: a crash in between is finished at
the next open) and re-signs every registered model. A running coordinator notices a
rotation made elsewhere (``edgewatch keys rotate --db``) at its next tick (``reload``).

Opening refuses (``ConfigError``) a key file the store does not know, and a missing file
when the store already names a key: a silently new key would make every agent refuse
every model from then on.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from edgewatch.coordinator.errors import WriteRefused
from edgewatch.coordinator.store import ModelStore
from edgewatch.coordinator.store.model_records import SigningKeyRecord
from edgewatch.shared.clock import SYSTEM, Clock
from edgewatch.shared.errors import ConfigError, ModelError
from edgewatch.shared.files import create_atomic, sync_dir, write_atomic
from edgewatch.shared.modelpack import EndorsedKey, KeyChain, ModelSignature, ModelTier
from edgewatch.shared.signing import SignKey, encode_signature, key_statement, model_statement

log = logging.getLogger(__name__)
KEY_FILE = "model-signing.key"


class Keyring:
    def __init__(self, store: ModelStore, path: Path, current: SignKey, clock: Clock) -> None:
        self.store = store
        self.path = path
        self._current = current
        self.clock = clock
        self._lock = threading.Lock()

    @staticmethod
    def open(store: ModelStore, path: Path, *, clock: Clock = SYSTEM) -> Keyring:
        """The keyring at ``path``; creates the first key on a fresh store."""
        keys = store.signing_keys()
        pending = _pending(path)
        if pending is not None and keys and pending.public.key_id == keys[-1].key_id:
            os.replace(path.with_name(path.name + ".new"), path)  # finish a rotation
            sync_dir(path.parent)
        if not path.exists():
            if keys:
                raise ConfigError(
                    f"model signing key file {path} is missing, but the store's key is "
                    f"{keys[-1].key_id}: restore the file (agents pinned to that key refuse "
                    "models signed by any other)"
                )
            fresh = SignKey.generate()
            # Exclusive: replicas sharing one key file (a mounted volume) and starting
            # together must end up with one key, whichever of them makes it.
            if create_atomic(path, fresh.private_pem(), mode=0o600):
                log.info("model signing: created key %s in %s (0600)", fresh.public.key_id, path)
        key = _read(path)
        if not keys:
            keys = _register_first(store, key, clock)
        if key.public.key_id != keys[-1].key_id:
            known = any(k.key_id == key.public.key_id for k in keys)
            raise ConfigError(
                f"model signing key file {path} holds key {key.public.key_id}, but the "
                f"store's current key is {keys[-1].key_id}"
                + (" (rotated elsewhere: use that key file)" if known else " (unknown here)")
            )
        log.debug("model signing: key %s (%s)", key.public.key_id, path)
        return Keyring(store, path, key, clock)

    @property
    def key_id(self) -> str:
        return self._current.public.key_id

    @property
    def public_pem(self) -> str:
        return self._current.public.pem

    def sign(self, sensor_type: str, tier: ModelTier, version: int, sha256: str) -> ModelSignature:
        with self._lock:
            key = self._current
        statement = model_statement(sensor_type, tier, version, sha256)
        return ModelSignature(
            sensor_type=sensor_type,
            tier=tier,
            version=version,
            sha256=sha256,
            key_id=key.public.key_id,
            signature=encode_signature(key.sign(statement)),
        )

    def chain(self) -> KeyChain:
        return KeyChain(
            keys=[
                EndorsedKey(
                    key_id=k.key_id,
                    public_key=k.public_key,
                    created_at=k.created_at,
                    endorsed_by=k.endorsed_by,
                    endorsement=k.endorsement,
                )
                for k in self.store.signing_keys()
            ]
        )

    def rotate(self) -> SigningKeyRecord:
        """A new key, endorsed by the current one; every model re-signed with it."""
        with self._lock:
            old, new = self._current, SignKey.generate()
            endorsement = old.sign(key_statement(new.public.key_id, new.public.pem))
            record = SigningKeyRecord(
                new.public.key_id,
                new.public.pem,
                self.clock.time(),
                endorsed_by=old.public.key_id,
                endorsement=encode_signature(endorsement),
            )
            staged = self.path.with_name(self.path.name + ".new")
            write_atomic(staged, new.private_pem(), mode=0o600)
            self.store.add_signing_key(record)
            os.replace(staged, self.path)
            sync_dir(self.path.parent)
            self._current = new
        self.resign_all()
        log.info("model signing: rotated key %s -> %s", old.public.key_id, new.public.key_id)
        return record

    def resign_all(self) -> int:
        signatures = {}
        for m in self.store.models():
            s = self.sign(m.sensor_type, m.tier, m.version, m.sha256)
            if s.key_id != m.key_id:
                signatures[m.id] = (s.key_id, s.signature)
        if signatures:
            self.store.resign_models(signatures)
        return len(signatures)

    def reload(self) -> bool:
        """Pick up a rotation made by another process; True if the key changed."""
        keys = self.store.signing_keys()
        if not keys or keys[-1].key_id == self.key_id:
            return False
        try:
            key = _read(self.path)
        except ConfigError as exc:
            log.error("store names signing key %s but %s", keys[-1].key_id, exc)
            return False
        if key.public.key_id != keys[-1].key_id:
            log.error(
                "store names signing key %s but %s holds %s: still signing with %s",
                keys[-1].key_id,
                self.path,
                key.public.key_id,
                self.key_id,
            )
            return False
        with self._lock:
            self._current = key
        log.info("model signing: now key %s (rotated by another process)", key.public.key_id)
        return True


def _read(path: Path) -> SignKey:
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            os.chmod(path, 0o600)
            log.warning(
                "model signing key %s was readable by others (mode %o): now 0600; rotate "
                "it (edgewatch keys rotate) if it may have leaked",
                path,
                mode,
            )
        return SignKey.from_pem(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"model signing key {path}: {exc.strerror or exc}") from exc
    except ModelError as exc:
        raise ConfigError(f"model signing key {path}: {exc}") from exc


def _pending(path: Path) -> SignKey | None:
    staged = path.with_name(path.name + ".new")
    if not staged.exists():
        return None
    try:
        return SignKey.from_pem(staged.read_bytes())
    except (OSError, ModelError):
        return None


def _register_first(store: ModelStore, key: SignKey, clock: Clock) -> list[SigningKeyRecord]:
    """Put the key file's key into an empty store; replicas started together on one
    database (one shared key file) race here, and the loser finds the winner's record."""
    try:
        store.add_signing_key(SigningKeyRecord(key.public.key_id, key.public.pem, clock.time()))
    except WriteRefused:
        log.info("model signing: another replica registered key %s first", key.public.key_id)
    return store.signing_keys()
