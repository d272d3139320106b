"""API auth with FastAPI's TestClient and a real SQLite store: scopes, hashed tokens, the
audit log, the token-in-URL refusal, failed attempts counted and throttled, /metrics.

The attack suite (``tests/security``) repeats the refusals against a real server; here
each rule is pinned down on its own, with a clock the test controls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.api.deps import get_service, get_store
from edgewatch.coordinator.security.tokens import create_token, digest
from edgewatch.coordinator.store import SqliteStore
from edgewatch.shared.clock import ManualClock
from tests.support.coordinator import make_settings

SENSOR = {
    "sensor_id": "S-1",
    "sensor_type": "industrial",
    "source": {"kind": "site", "topic": "site/sensors/S-1"},
}


@dataclass
class Api:
    client: TestClient
    store: SqliteStore
    configured: str
    read: str
    admin: str
    clock: ManualClock

    def get(self, path: str, token: str | None, **kw: Any) -> Any:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.get(path, headers=headers, **kw)

    def post(self, path: str, token: str | None, body: Any) -> Any:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.post(path, headers=headers, json=body)

    def failures(self, reason: str) -> float:
        text = self.get("/metrics", self.admin).text
        line = f'edgewatch_api_auth_failures_total{{reason="{reason}"}} '
        found = [ln for ln in text.splitlines() if ln.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0


class _NoFleet:
    fleet_duty = None


def _make(tmp_path: Path, **settings: Any) -> Iterator[Api]:
    s = make_settings(tmp_path, "embedded:0", **settings)
    store = SqliteStore(tmp_path / "auth.db")
    clock = ManualClock()
    app = create_app(s, clock=clock)
    app.dependency_overrides[get_store] = lambda: store
    app.dependency_overrides[get_service] = lambda: _NoFleet()
    read, _ = create_token(store, "grafana", "read", "test")
    admin, _ = create_token(store, "ops", "admin", "test")
    configured = s.api_token.get_secret_value() if s.api_token else ""
    # Not entered as a context manager: the lifespan (broker, ingest) never starts.
    yield Api(TestClient(app), store, configured, read, admin, clock)
    store.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from _make(tmp_path, auth_fail_limit=5)


def test_tokens_are_stored_as_hashes_only(api: Api) -> None:
    raw = (api.store.path).read_bytes()
    assert api.read.startswith("ewt_") and api.read.encode() not in raw
    assert api.store.token_by_digest(digest(api.read)) is not None


def test_read_token_reads_but_cannot_change_anything(api: Api) -> None:
    assert api.get("/api/v1/readings", api.read).status_code == 200
    refused = api.post("/api/v1/sensors", api.read, [SENSOR])
    assert refused.status_code == 403
    assert api.store.catalog() == []  # nothing registered
    assert api.failures("insufficient_scope") == 1
    entry = api.store.audit_entries(0, 10)[-1]
    assert (entry.action, entry.outcome) == ("POST /api/v1/sensors", "403")
    assert entry.actor.endswith(":grafana") and entry.source == "testclient"


def test_admin_tokens_change_state_and_are_audited(api: Api) -> None:
    for token, name in ((api.admin, ":ops"), (api.configured, "api-token")):
        made = api.post("/api/v1/sensors", token, [SENSOR])
        assert made.status_code == 201, made.text
        entry = api.store.audit_entries(0, 100)[-1]
        assert entry.actor.endswith(name) and entry.outcome == "201"
    listed = api.get("/api/v1/audit", api.admin).json()
    assert [e["outcome"] for e in listed["entries"]] == ["201", "201"]
    assert api.get("/api/v1/audit", api.read).status_code == 403  # the log is admin's


def test_a_failed_admin_action_is_audited_with_its_status(api: Api) -> None:
    missing = api.client.put(
        "/api/v1/sensors/nope",
        headers={"Authorization": f"Bearer {api.admin}"},
        json={"pinned_to": None},
    )
    assert missing.status_code == 404
    assert api.store.audit_entries(0, 10)[-1].outcome == "404"


def test_missing_wrong_and_revoked_tokens_are_401(api: Api) -> None:
    token_id = api.store.tokens()[0].token_id
    assert api.store.revoke_token(token_id, api.clock.time())
    for token in (None, "ewt_" + "x" * 43, "not-a-token-at-all", api.read):
        response = api.get("/api/v1/stats", token)
        assert response.status_code == 401, token
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert api.failures("missing_token") == 1
    assert api.failures("wrong_token") == 3


def test_a_token_in_the_query_string_is_refused_and_never_echoed(api: Api) -> None:
    for query in (f"?token={api.admin}", f"?limit=5&x={api.admin}", f"?access_token={api.read}"):
        response = api.client.get("/api/v1/readings" + query)
        assert response.status_code == 400
        assert "ewt_" not in response.text and "Authorization header" in response.text
    assert api.client.get("/metrics?api_token=abc").status_code == 400
    assert api.failures("token_in_query") == 4


def test_failed_attempts_are_throttled_per_address_until_the_window_passes(api: Api) -> None:
    for _ in range(5):
        assert api.get("/api/v1/readings", "ewt_wrong").status_code == 401
    blocked = api.get("/api/v1/readings", api.admin)  # even a good token, from that address
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) == 60
    api.clock.advance(59.0)
    assert api.get("/api/v1/readings", api.admin).status_code == 429
    api.clock.advance(1.0)
    assert api.get("/api/v1/readings", api.admin).status_code == 200
    assert api.failures("throttled") == 2


def test_metrics_need_a_token_unless_open(tmp_path: Path) -> None:
    closed = next(_make(tmp_path / "closed"))
    assert closed.get("/metrics", None).status_code == 401
    assert closed.get("/metrics", closed.read).status_code == 200
    opened = next(_make(tmp_path / "open", metrics_open=True))
    assert opened.get("/metrics", None).status_code == 200


def test_openapi_declares_the_auth_answers(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    stats = spec["paths"]["/api/v1/stats"]["get"]["responses"]
    assert {"400", "401", "403", "422", "429"} <= set(stats)
    assert "404" in spec["paths"]["/api/v1/agents/{agent_id}"]["get"]["responses"]
    assert "/api/v1/audit" in spec["paths"]


def test_the_access_log_never_carries_a_token() -> None:
    import logging

    from edgewatch.coordinator.security.logfilter import TokenMask

    mask = TokenMask("configured-secret-value")
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5",
            "GET",
            "/api/v1/readings?token=abc&x=ewt_" + "A" * 43 + "&k=configured-secret-value",
            "1.1",
            400,
        ),
        None,
    )
    assert mask.filter(record)
    line = record.getMessage()
    assert "abc" not in line and "ewt_A" not in line and "configured-secret" not in line
    assert line.count("***") == 3 and "/api/v1/readings?token=***" in line
