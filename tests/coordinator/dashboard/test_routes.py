"""coordinator.dashboard.routes over TestClient: nothing but the login page without a
session; a token buys an HttpOnly, SameSite=Strict cookie; state changes need CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.api.deps import get_service
from edgewatch.coordinator.dashboard.session import SESSION_COOKIE
from edgewatch.coordinator.security.tokens import create_token
from edgewatch.coordinator.service import CoordinatorService
from tests.support.coordinator import make_settings

PAGES = ("/dashboard/assets/app.js", "/dashboard/assets/vendor/uPlot.iife.min.js")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[CoordinatorService]:
    svc = CoordinatorService(make_settings(tmp_path, "mqtt://127.0.0.1:1"))  # a store, no broker
    yield svc
    svc.store.close()


@pytest.fixture
def app_and_token(service: CoordinatorService) -> tuple[TestClient, str]:
    app = create_app(service.settings)
    app.dependency_overrides[get_service] = lambda: service
    return TestClient(app, base_url="http://testserver"), app.state.api_token


def login(client: TestClient, token: str) -> str:
    answer = client.post("/dashboard/session", json={"token": token})
    assert answer.status_code == 204, answer.text
    return answer.headers["set-cookie"]


def test_without_a_session_only_the_login_page_is_served(
    app_and_token: tuple[TestClient, str],
) -> None:
    client, _ = app_and_token
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 303 and root.headers["location"] == "/login"
    assert client.get("/login").status_code == 200
    assert client.get("/dashboard/public/login.js").status_code == 200
    for path in (*PAGES, "/dashboard/session", "/dashboard/events"):
        assert client.get(path).status_code == 401, path
    assert client.get("/dashboard/public/app.js").status_code == 404


def test_a_token_buys_a_strict_httponly_expiring_cookie(
    app_and_token: tuple[TestClient, str],
) -> None:
    client, token = app_and_token
    cookie = login(client, token).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=28800" in cookie
    assert token.lower() not in cookie
    page = client.get("/")
    assert page.status_code == 200 and "<title>edgewatch</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    info = client.get("/dashboard/session").json()
    assert info["scope"] == "admin" and len(info["csrf_token"]) >= 32


def test_a_wrong_token_is_401_and_counted(app_and_token: tuple[TestClient, str]) -> None:
    client, token = app_and_token
    assert client.post("/dashboard/session", json={"token": "x" * 40}).status_code == 401
    assert client.post("/dashboard/session", json={}).status_code == 422
    assert SESSION_COOKIE not in client.cookies
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert "edgewatch_dashboard_failed_logins_total 1.0" in metrics
    assert 'edgewatch_api_auth_failures_total{reason="wrong_token"} 1.0' in metrics


def test_the_cookie_reads_the_api_but_changes_state_only_with_the_csrf_header(
    app_and_token: tuple[TestClient, str],
) -> None:
    client, token = app_and_token
    login(client, token)
    assert client.get("/api/v1/agents").status_code == 200  # reads ride on the cookie
    csrf = client.get("/dashboard/session").json()["csrf_token"]
    refused = client.delete("/dashboard/session")
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.text
    assert (
        client.delete("/dashboard/session", headers={"X-CSRF-Token": "x" * 32}).status_code == 403
    )
    out = client.delete("/dashboard/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204 and 'edgewatch_session=""' in out.headers["set-cookie"]


def test_a_bearer_token_needs_no_csrf(app_and_token: tuple[TestClient, str]) -> None:
    client, token = app_and_token
    client.cookies.clear()
    answer = client.delete("/dashboard/session", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 204


def test_a_forged_or_rotated_session_is_no_session(
    app_and_token: tuple[TestClient, str],
) -> None:
    client, token = app_and_token
    login(client, token)
    value = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value[:-3] + ("abc" if value[-3:] != "abc" else "xyz"))
    assert client.get("/dashboard/session").status_code == 401
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value)
    assert client.get("/dashboard/session").status_code == 200
    # The token is rotated (a new api-token file, a restart): its sessions end with it.
    client.app.state.auth.configured = "another-token-of-enough-length"  # type: ignore[attr-defined]
    assert client.get("/dashboard/session").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_read_token_looks_but_cannot_act_and_revoking_it_ends_its_session(
    app_and_token: tuple[TestClient, str], service: CoordinatorService
) -> None:
    client, _ = app_and_token
    token, record = create_token(service.store, "wall-screen", "read", "test")
    login(client, token)
    info = client.get("/dashboard/session").json()
    assert info["scope"] == "read"
    assert client.get("/api/v1/agents").status_code == 200
    csrf = {"X-CSRF-Token": info["csrf_token"]}
    refused = client.post("/api/v1/assignments/rebalance", headers=csrf)
    assert refused.status_code == 403 and "admin" in refused.text
    assert service.store.revoke_token(record.token_id, 1.0)
    assert client.get("/dashboard/session").status_code == 401
    assert client.get("/api/v1/agents").status_code == 401


def test_no_token_in_a_url(app_and_token: tuple[TestClient, str]) -> None:
    client, token = app_and_token
    refused = client.get(f"/dashboard/events?token={token}")
    assert refused.status_code == 400 and token not in refused.text  # the API's query guard
