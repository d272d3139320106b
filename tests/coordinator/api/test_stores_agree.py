"""SQLite and PostgreSQL give the same answers to the same API calls over the same data.

The same writes (batches with duplicates, a conflict and an absent metric, refusals,
agents, a catalog, a plan, the sensors consumer's output) go into a coordinator on each
store; every read route is then asked the same questions and must answer byte for byte
alike (commit times aside: they are each store's own clock).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.fleet.registry import AgentRecord
from edgewatch.coordinator.fleet.sensors import SensorActivityConsumer
from edgewatch.coordinator.ingest.feed import CommittedFeed, ConsumerRunner
from edgewatch.coordinator.service import CoordinatorService
from edgewatch.coordinator.store import (
    AssignmentEvent,
    CatalogSensor,
    Placement,
    Quarantined,
    Refusal,
    StoredDesired,
    WriteSet,
)
from edgewatch.shared.codec import encode
from edgewatch.shared.desired import DesiredState, SimulatedSource
from edgewatch.shared.schemas import ModelRef
from tests.support.coordinator import make_batch, make_settings, rechunk
from tests.support.stores import locate

QUESTIONS = (
    "readings?limit=1000",
    "readings?limit=7",
    "readings?order=desc&limit=5",
    "readings?sensor_id=s-1",
    "readings?agent_id=b&anomaly=true",
    "readings?since=1700000000.004&until=1700000100",
    "stats",
    "agents",
    "agents/pi-1",
    "sensors",
    "sensors/s-2",
    "assignments",
    "assignments/events?after=1&limit=2",
)
# Each store's own clock: when it committed (not part of what it stores).
CLOCK_FIELDS = {"last_stored_at", "ingest", "ingest_readings_per_s", "queue_depth"}


def _fill(service: CoordinatorService) -> None:
    store = service.store
    a = make_batch("a", 12, ts=1_700_000_000.0).model_copy(
        update={"anomaly": [i % 5 == 0 for i in range(12)]}
    )
    b = make_batch("b", 9, epoch=7, ts=1_700_000_050.0).model_copy(
        update={"anomaly": [True, False, True] * 3, "status": ["normal", None, "warning"] * 3}
    )
    forged = rechunk(a, 3, 2).model_copy(update={"anomaly": [True, True]})
    pi = AgentRecord(
        id="pi-1",
        first_seen=1.0,
        last_seen=5.0,
        state="online",
        tier="high",
        models={"industrial": ModelRef(version=3)},
        heartbeat={"cpu_percent": 4.5},
        heartbeat_at=5.0,
        capacity=10,
        capabilities=("assigned", "site"),
    )
    store.write(WriteSet(batches=[a, b], agents=[pi]))
    store.write(
        WriteSet(
            batches=[rechunk(a, 0, 6), forged],
            refusals=[
                Refusal("json", None),
                Refusal("ts_future", "a", readings=4, kept=Quarantined("a", 1, 40, 43, b"{}", 2.0)),
            ],
            agents=[AgentRecord(id="pi-2", first_seen=2.0, last_seen=2.0)],
        )
    )
    store.register_sensors(
        [
            CatalogSensor(
                f"s-{i}",
                "industrial",
                SimulatedSource(seed=1, number=i, rate_hz=1.0, t0=1_700_000_000.0),
                latitude=48.0 + i,
                longitude=11.0,
                registered_at=10.0,
            )
            for i in range(3)
        ]
    )
    store.commit_plan(
        {"s-0": Placement("pi-1", 11.0), "s-1": Placement("pi-2", 12.0)},
        [
            StoredDesired(
                "pi-1",
                5,
                11.0,
                encode(DesiredState(agent_id="pi-1", generation=5, issued_at=1_700_000_011.0)),
            )
        ],
        [AssignmentEvent(11.0 + n, f"s-{n}", None, "pi-1", "catalog_changed") for n in range(3)],
    )
    ConsumerRunner(SensorActivityConsumer(store), store, CommittedFeed()).catch_up()


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in CLOCK_FIELDS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _answers(kind: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    for location in locate(kind, tmp_path / kind):
        settings = make_settings(
            tmp_path / kind, "embedded:0", db=location, model_key_file=tmp_path / kind / "key"
        )
        service = CoordinatorService(settings)
        try:
            _fill(service)
            app = create_app(settings)
            app.state.service = service  # its lifespan (broker, ingest) never starts
            token = settings.api_token.get_secret_value() if settings.api_token else ""
            client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
            out = {}
            for q in QUESTIONS:
                response = client.get(f"/api/v1/{q}")
                assert response.status_code == 200, (kind, q, response.text)
                out[q] = _scrub(response.json())
                cursor = out[q].get("next_cursor") if isinstance(out[q], dict) else None
                if cursor:  # the next page, by the cursor this store handed out
                    following = client.get(f"/api/v1/{q}", params={"cursor": cursor})
                    out[q + " (next page)"] = following.json()
            yield out
        finally:
            service.store.close()


def test_sqlite_and_postgres_answer_alike(tmp_path: Path) -> None:
    (tmp_path / "sqlite").mkdir()
    (tmp_path / "postgresql").mkdir()
    sqlite = next(_answers("sqlite", tmp_path))
    postgres = next(_answers("postgresql", tmp_path))
    assert len(sqlite["readings?limit=1000"]["readings"]) == 21
    assert sqlite["stats"]["conflicts"] == 2 and sqlite["stats"]["rejected"] == {
        "json": 1,
        "ts_future": 1,
    }
    assert set(postgres) == set(sqlite) and "readings?limit=7 (next page)" in sqlite
    for q in sqlite:
        assert postgres[q] == sqlite[q], q


@pytest.mark.parametrize("kind", ["postgresql"])
def test_a_postgres_coordinator_refuses_to_start_without_a_token(kind: str, tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="api-token-file"):
        make_settings(tmp_path, "embedded:0", db="postgresql://x@127.0.0.1/db", api_token=None)
    with pytest.raises(ValidationError, match="model-key-file"):
        make_settings(tmp_path, "embedded:0", db="postgresql://x@127.0.0.1/db")
