"""coordinator.models.signing: the key file (secret, 0600), the public chain in the store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.store import SqliteStore
from edgewatch.coordinator.store.model_records import SigningKeyRecord
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.files import write_atomic
from edgewatch.shared.signing import (
    SignKey,
    VerifyKey,
    decode_signature,
    key_statement,
    model_statement,
)
from tests.support.models import new_model


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "c.db")
    yield s
    s.close()


def test_the_first_start_makes_a_key_only_the_owner_can_read(
    store: SqliteStore, tmp_path: Path
) -> None:
    path = tmp_path / "model-signing.key"
    ring = Keyring.open(store, path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert [k.key_id for k in store.signing_keys()] == [ring.key_id]
    again = Keyring.open(store, path)  # every later start: the same key
    assert again.key_id == ring.key_id
    signature = ring.sign("pump", "high", 3, "ab" * 32)
    ok = VerifyKey.from_pem(ring.public_pem).verify(
        model_statement("pump", "high", 3, "ab" * 32), decode_signature(signature.signature)
    )
    assert ok and signature.key_id == ring.key_id


class _SawItEmpty(SqliteStore):
    """A replica that read the key list before the other replica's registration committed
    (the fault: the first read answers empty once)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.stale = True

    def signing_keys(self) -> list[SigningKeyRecord]:
        if self.stale:
            self.stale = False
            return []
        return super().signing_keys()


def test_replicas_starting_together_on_one_key_file_agree(tmp_path: Path) -> None:
    path = tmp_path / "shared.key"
    first = SqliteStore(tmp_path / "c.db")
    ring = Keyring.open(first, path)  # the replica that won the race
    second = _SawItEmpty(tmp_path / "c.db")
    try:
        assert Keyring.open(second, path).key_id == ring.key_id  # not a WriteRefused
        assert [k.key_id for k in second.signing_keys()] == [ring.key_id]
        other = tmp_path / "other.key"
        write_atomic(other, SignKey.generate().private_pem(), mode=0o600)
        second.stale = True  # a replica with another key file is still refused
        with pytest.raises(ConfigError, match="store's current key is"):
            Keyring.open(second, other)
    finally:
        first.close()
        second.close()


def test_a_key_file_others_can_read_is_narrowed(store: SqliteStore, tmp_path: Path) -> None:
    path = tmp_path / "k"
    Keyring.open(store, path)
    os.chmod(path, 0o644)
    Keyring.open(store, path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_missing_or_foreign_key_file_is_refused(store: SqliteStore, tmp_path: Path) -> None:
    path = tmp_path / "k"
    ring = Keyring.open(store, path)
    path.unlink()
    with pytest.raises(ConfigError, match=f"missing, but the store's key is {ring.key_id}"):
        Keyring.open(store, path)
    path.write_bytes(SignKey.generate().private_pem())
    with pytest.raises(ConfigError, match="unknown here"):
        Keyring.open(store, path)
    path.write_text("garbage that is not a key")
    with pytest.raises(ConfigError) as err:
        Keyring.open(store, path)
    assert "garbage" not in str(err.value)


def test_rotation_endorses_the_new_key_and_resigns_every_model(
    store: SqliteStore, tmp_path: Path
) -> None:
    path = tmp_path / "k"
    ring = Keyring.open(store, path)
    old = ring.key_id
    model = store.add_model(new_model(SignKey.from_pem(path.read_bytes()), "pump", 1))
    record = ring.rotate()
    assert record.endorsed_by == old and ring.key_id == record.key_id != old
    old_key = VerifyKey.from_pem(store.signing_keys()[0].public_key)
    assert record.endorsement is not None
    assert old_key.verify(
        key_statement(record.key_id, record.public_key), decode_signature(record.endorsement)
    )
    resigned = store.model(model.id)
    assert resigned is not None and resigned.key_id == record.key_id
    assert Keyring.open(store, path).key_id == record.key_id  # the file moved too
    assert [k.key_id for k in ring.chain().keys] == [old, record.key_id]


def test_a_rotation_cut_short_is_finished_at_the_next_open(
    store: SqliteStore, tmp_path: Path
) -> None:
    path = tmp_path / "k"
    ring = Keyring.open(store, path)
    staged = path.with_name(path.name + ".new")
    # As if the process died after recording the new key, before renaming its file.
    new = SignKey.generate()
    staged.write_bytes(new.private_pem())
    from edgewatch.coordinator.store.model_records import SigningKeyRecord

    store.add_signing_key(
        SigningKeyRecord(new.public.key_id, new.public.pem, 2.0, ring.key_id, "x")
    )
    assert Keyring.open(store, path).key_id == new.public.key_id
    assert not staged.exists()


def test_a_running_coordinator_picks_up_a_rotation_made_elsewhere(
    store: SqliteStore, tmp_path: Path
) -> None:
    path = tmp_path / "k"
    running = Keyring.open(store, path)
    assert running.reload() is False
    other = Keyring.open(store, path)  # edgewatch keys rotate --db, another process
    rotated = other.rotate()
    assert running.reload() is True and running.key_id == rotated.key_id
