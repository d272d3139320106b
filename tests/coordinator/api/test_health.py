"""Readiness tells a supervisor the truth: 503 while the broker link is down.

TestClient with the service dependency overridden by a real, never started
``CoordinatorService`` (store open, no broker link): exactly a coordinator whose broker
is unreachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.api.deps import get_service
from edgewatch.coordinator.service import CoordinatorService
from tests.support.coordinator import make_settings


@pytest.fixture
def unconnected(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, "mqtt://user:s3cret-pass@10.9.8.7:1883")
    service = CoordinatorService(settings)
    app = create_app(settings)
    app.dependency_overrides[get_service] = lambda: service
    yield TestClient(app)
    service.store.close()


def test_ready_is_503_without_the_broker_and_live_stays_200(unconnected: TestClient) -> None:
    ready = unconnected.get("/api/v1/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "not_ready",
        "broker_connected": False,
        "mqtt_protocol": None,
        "db_ok": True,
        "duties_held": [],  # never started: it runs no duty
    }
    live = unconnected.get("/api/v1/health/live")
    assert live.status_code == 200 and live.json()["status"] == "ok"
    for body in (ready.text, live.text):
        assert "10.9.8.7" not in body and "user" not in body and "s3cret" not in body


def test_the_old_health_route_is_gone(unconnected: TestClient) -> None:
    assert unconnected.get("/api/v1/health").status_code == 404
