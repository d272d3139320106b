"""Backup of a running coordinator, restore into a fresh one: the same API answers."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path
from typing import Any

import pytest

from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.coordinator.store import SqliteStore
from edgewatch.shared.cli import main
from tests.support.coordinator import (
    TOPICS,
    ApiServer,
    Publisher,
    coord_embedded,
    make_batch,
    serve,
    wait_ready,
)

__all__ = ["coord_embedded"]
ROUTES = (
    "readings?limit=1000",
    "agents",
    "sensors",
    "assignments/events",
    "readings?sensor_id=s-1",
)


def _settings(db: Path, broker: str) -> CoordinatorSettings:
    return CoordinatorSettings(
        broker=broker, db=db, client_id="c-" + secrets.token_hex(3), mqtt_version="3.1.1"
    )


def _answers(api: ApiServer) -> dict[str, Any]:
    with api.client() as http:
        out = {route: http.get(f"/api/v1/{route}").json() for route in ROUTES}
        stats = http.get("/api/v1/stats").json()
    # Live figures (rates, queue) start from zero in a new process; counters must match.
    out["stats"] = {
        k: v
        for k, v in stats.items()
        if k not in ("ingest", "ingest_readings_per_s", "queue_depth", "agents_online")
    }
    return out


def test_a_restored_coordinator_answers_as_the_original_did(
    tmp_path: Path, coord_embedded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    original = tmp_path / "a" / "coord.db"
    archive = tmp_path / "backup.tar.gz"
    restored = tmp_path / "b" / "coord.db"
    server = serve(_settings(original, coord_embedded))
    api = next(server)
    pub = Publisher(coord_embedded)
    try:
        wait_ready(api.service, pub)
        for n in range(4):
            pub.send(make_batch("pi-1", 25, first_seq=25 * n))
        pub.publish(TOPICS.results("pi-1"), b"not json")
        pub.wait_acks(4, "pi-1")
        with api.client() as http:
            http.post(
                "/api/v1/sensors",
                json=[
                    {
                        "sensor_id": "pump-1",
                        "sensor_type": "industrial",
                        "source": {"kind": "site", "topic": "plant/pump-1"},
                    }
                ],
            ).raise_for_status()
        before = _answers(api)
        assert len(before["readings?limit=1000"]["readings"]) == 100
        # Online: the coordinator keeps running while the store is copied.
        assert main(["backup", "--db", str(original), "--out", str(archive)]) == 0
        token = api.token
    finally:
        pub.close()
        server.close()
    assert "files: api-token, model-signing.key" in capsys.readouterr().out
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert main(["restore", "--from", str(archive), "--db", str(restored)]) == 0
    assert (restored.parent / "api-token").read_text().strip() == token
    key = restored.parent / "model-signing.key"  # models go on being signed by the same key
    assert key.read_bytes() == (original.parent / "model-signing.key").read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert main(["restore", "--from", str(archive), "--db", str(restored)]) == 1  # exists
    server = serve(_settings(restored, coord_embedded))
    again = next(server)
    try:
        assert again.token == token  # clients keep working against the restored one
        assert _answers(again) == before
    finally:
        server.close()


def test_backup_of_a_postgres_store_points_at_pg_dump(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backup", "--db", "postgresql://edgewatch:s3cret@db/edgewatch", "--out", "x"])
    err = capsys.readouterr().err
    assert code == 2 and "pg_dump -Fc" in err and "s3cret" not in err


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    assert main(["restore", "--from", str(junk), "--db", str(tmp_path / "x.db")]) == 1
    assert not (tmp_path / "x.db").exists()


def test_a_key_file_kept_elsewhere_is_packed_when_named_and_missed_loudly_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "store" / "coord.db"
    db.parent.mkdir()
    key = tmp_path / "secrets" / "signing.key"  # --model-key-file outside the db's directory
    store = SqliteStore(db)
    Keyring.open(store, key)
    store.close()
    out = tmp_path / "b.tar.gz"
    assert main(["backup", "--db", str(db), "--out", str(out)]) == 0
    assert "no key file was packed" in capsys.readouterr().err
    assert main(["backup", "--db", str(db), "--out", str(out), "--model-key-file", str(key)]) == 0
    captured = capsys.readouterr()
    assert "files: model-signing.key" in captured.out and captured.err == ""
    restored = tmp_path / "r" / "coord.db"
    assert main(["restore", "--from", str(out), "--db", str(restored)]) == 0
    assert (restored.parent / "model-signing.key").read_bytes() == key.read_bytes()
