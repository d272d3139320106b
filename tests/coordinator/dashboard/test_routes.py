"""coordinator.dashboard.routes over TestClient: nothing but the login page without a
session; a token buys an HttpOnly, SameSite=Strict cookie; state changes need CSRF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.api.deps import get_service
from edgewatch.coordinator.api.verifier import StaticTokenVerifier
from edgewatch.coordinator.dashboard.session import SESSION_COOKIE
from edgewatch.coordinator.service import CoordinatorService
from tests.support.coordinator import make_settings

PAGES = ("/dashboard/assets/app.js", "/dashboard/assets/vendor/uPlot.iife.min.js")


@pytest.fixture
def app_and_token(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    settings = make_settings(tmp_path, "mqtt://127.0.0.1:1")
    service = CoordinatorService(settings)  # never started: a store, no broker
    app = create_app(settings)
    app.dependency_overrides[get_service] = lambda: service
    yield TestClient(app, base_url="http://testserver"), app.state.api_token
    service.store.close()


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
    client, _ = app_and_token
    assert client.post("/dashboard/session", json={"token": "x" * 40}).status_code == 401
    assert client.post("/dashboard/session", json={}).status_code == 422
    assert SESSION_COOKIE not in client.cookies
    metrics = client.get("/metrics").text
    assert "edgewatch_dashboard_failed_logins_total 1.0" in metrics


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
    app = client.app
    app.state.verifier = StaticTokenVerifier("another-token-of-enough-length")  # type: ignore[attr-defined]
    assert client.get("/dashboard/session").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303


def test_no_token_in_a_url(app_and_token: tuple[TestClient, str]) -> None:
    client, token = app_and_token
    assert client.get(f"/dashboard/events?token={token}").status_code == 422
