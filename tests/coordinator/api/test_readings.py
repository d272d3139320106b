"""``GET /api/v1/readings`` with FastAPI's TestClient: no broker, a real SQLite store.

The app's store dependency is overridden with a store this test fills directly, so
paging, ordering, filters and parameter checks are tested without MQTT.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.api.deps import get_store
from edgewatch.coordinator.store import SqliteStore, WriteSet
from tests.support.coordinator import make_batch, make_settings

TOKEN_HEADER = "Authorization"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, "embedded:0")
    store = SqliteStore(tmp_path / "api.db")
    a = make_batch("a", 30, ts=1_700_000_000.0).model_copy(
        update={"anomaly": [i % 7 == 0 for i in range(30)]}
    )
    store.write(WriteSet(batches=[a, make_batch("b", 25, ts=1_700_000_010.0)]))
    app = create_app(settings)
    app.dependency_overrides[get_store] = lambda: store
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    # Not entered as a context manager: the lifespan (broker, ingest) never starts.
    client = TestClient(app, headers={TOKEN_HEADER: f"Bearer {token}"})
    yield client
    store.close()


def _all(client: TestClient, **params: Any) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/readings", params=query).json()
        rows += body["readings"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, pages


def test_cursor_pages_cover_every_reading_once_in_order(api: TestClient) -> None:
    everything = api.get("/api/v1/readings").json()["readings"]
    assert len(everything) == 55
    paged, pages = _all(api, limit=7)
    assert paged == everything and pages == 8  # 7 full pages and the last 6
    keys = [(r["ts"], r["agent_id"], r["epoch"], r["seq"]) for r in paged]
    assert keys == sorted(keys) and len(set(keys)) == 55


def test_descending_order_and_its_cursor(api: TestClient) -> None:
    forward = api.get("/api/v1/readings").json()["readings"]
    backward, _ = _all(api, order="desc", limit=10)
    assert backward == forward[::-1]
    first = api.get("/api/v1/readings", params={"limit": 5}).json()["next_cursor"]
    wrong_way = api.get("/api/v1/readings", params={"order": "desc", "cursor": first})
    assert wrong_way.status_code == 422
    assert wrong_way.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_anomaly_filter_and_agent_filter(api: TestClient) -> None:
    flagged = api.get("/api/v1/readings", params={"anomaly": "true"}).json()["readings"]
    assert [r["seq"] for r in flagged] == [0, 7, 14, 21, 28]
    calm = api.get("/api/v1/readings", params={"anomaly": "false", "agent_id": "a"}).json()
    assert len(calm["readings"]) == 25 and not any(r["anomaly"] for r in calm["readings"])


@pytest.mark.parametrize(
    "params",
    [
        {"sensor": "s-1"},  # a typo of sensor_id: must not return every sensor
        {"limit": 0},
        {"limit": 10_001},
        {"order": "sideways"},
        {"cursor": "not-a-cursor"},
        {"anomaly": "maybe"},
        {"sensor_id": ["s-1", "s-2"]},  # one value only: not a filter on both, nor the last
    ],
)
def test_bad_parameters_are_422_never_ignored(api: TestClient, params: dict[str, Any]) -> None:
    response = api.get("/api/v1/readings", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_no_token_no_readings(api: TestClient) -> None:
    response = api.get("/api/v1/readings", headers={TOKEN_HEADER: ""})
    assert response.status_code == 401
