"""Attacks on the coordinator's REST API (a real server), and on its secrets: what
``ps`` and the logs of every process of the site show."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgewatch.coordinator.broker.embedded import EmbeddedBroker
from tests.security.conftest import UnderAttack
from tests.support.coordinator import ApiServer, make_settings, serve
from tests.support.procs import edgewatch_argv

SENSOR = {
    "sensor_id": "EVIL-1",
    "sensor_type": "industrial",
    "source": {"kind": "site", "topic": "site/sensors/EVIL-1"},
}


def _token(ua: UnderAttack, scope: str) -> str:
    done = subprocess.run(
        edgewatch_argv(
            "tokens", "create", "--db", str(ua.site.db), "--scope", scope, "--name", "t"
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def _guarded_gets(ua: UnderAttack) -> list[str]:
    _s, spec = ua.site.api("/openapi.json")
    return [
        # Numeric ids (models, rollouts) as a number: ``{model_id:int}`` matches no other.
        re.sub(r"\{\w+_id\}", "1", p.replace("{agent_id}", "pi-a").replace("{sensor_id}", "S-1"))
        for p, ops in spec["paths"].items()
        if "get" in ops and "/health/" not in p
    ]


@pytest.mark.attack("API without a token")
def test_every_data_route_refuses_a_request_without_token(under_attack: UnderAttack) -> None:
    paths = [*_guarded_gets(under_attack), "/metrics"]
    answers = {p: under_attack.site.api(p)[0] for p in paths}
    posted = under_attack.site.api("/api/v1/sensors", None, "POST", [SENSOR])[0]
    assert len(paths) >= 8 and set(answers.values()) == {401}, answers
    assert posted == 401


@pytest.mark.attack("API with a wrong token")
def test_a_wrong_token_is_refused(under_attack: UnderAttack) -> None:
    for token in ("ewt_" + "A" * 43, under_attack.site.api_token()[:-1] + "x", "Bearer"):
        assert under_attack.site.api("/api/v1/readings", token)[0] == 401


@pytest.mark.attack("API: a read token on an admin endpoint")
def test_a_read_token_changes_nothing(under_attack: UnderAttack) -> None:
    site = under_attack.site
    read = _token(under_attack, "read")
    assert site.api("/api/v1/stats", read)[0] == 200  # it does read
    refused = [
        site.api("/api/v1/sensors", read, "POST", [SENSOR])[0],
        site.api("/api/v1/sensors/S-1", read, "PUT", {"pinned_to": "pi-a"})[0],
        site.api("/api/v1/assignments/rebalance", read, "POST", {})[0],
        site.api("/api/v1/audit", read)[0],
    ]
    admin = site.api_token()
    _s, sensors = site.api("/api/v1/sensors", admin)
    _s, audit = site.api("/api/v1/audit", admin)
    assert refused == [403, 403, 403, 403]
    assert "EVIL-1" not in {s["sensor_id"] for s in sensors}
    denied = [e for e in audit["entries"] if e["outcome"] == "403"]
    assert {e["action"] for e in denied} >= {
        "POST /api/v1/sensors",
        "PUT /api/v1/sensors/S-1",
        "POST /api/v1/assignments/rebalance",
    }


@pytest.mark.attack("API: the token in the query string")
def test_a_token_in_the_url_is_refused_and_never_logged(under_attack: UnderAttack) -> None:
    site = under_attack.site
    admin = site.api_token()
    read = _token(under_attack, "read")
    answers = [
        site.api(f"/api/v1/readings?token={admin}")[0],
        site.api(f"/api/v1/readings?access_token={read}")[0],
        site.api(f"/api/v1/stats?x={read}", admin)[0],
        site.api(f"/metrics?api_token={admin}")[0],
    ]
    assert answers == [400, 400, 400, 400]
    assert site.coordinator is not None
    log = site.coordinator.log_text()
    assert "/api/v1/readings?token=***" in log  # the request was logged, masked
    assert admin not in log and read not in log


@pytest.fixture
def throttled_api(tmp_path: Path) -> Iterator[ApiServer]:
    broker = EmbeddedBroker(port=0)
    broker.start()
    try:
        yield from serve(make_settings(tmp_path, broker.url, auth_fail_limit=5))
    finally:
        broker.stop()


@pytest.mark.attack("API: guessing tokens (brute force)")
def test_guessing_tokens_is_throttled(throttled_api: ApiServer) -> None:
    with throttled_api.client(token="ewt_guess") as guesser:
        answers = [guesser.get("/api/v1/stats").status_code for _ in range(7)]
    with throttled_api.client() as owner:  # same address: blocked too, for the minute
        blocked = owner.get("/api/v1/stats")
        metrics = httpx.get(
            throttled_api.base_url + "/metrics",
            headers={"Authorization": f"Bearer {throttled_api.token}"},
        )
    assert answers == [401] * 5 + [429] * 2
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert metrics.status_code == 429  # /metrics is guarded the same way


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.attack("reading secrets from ps and the logs")
def test_no_secret_in_ps_or_any_log(under_attack: UnderAttack) -> None:
    site = under_attack.site
    secrets = [
        site.api_token(),
        site.layout.read_secret(site.layout.admin_secret),
        site.coordinator_bundle().password.get_secret_value(),
        under_attack.a.password.get_secret_value(),
        under_attack.b.password.get_secret_value(),
    ]
    procs = site.procs.procs
    running = [p for p in procs if p.alive]
    assert len(running) >= 4  # broker, coordinator, two agents
    seen = " ".join(_cmdline(p.pid) for p in running) + " ".join(p.log_text() for p in procs)
    leaked = [i for i, s in enumerate(secrets) if s in seen]
    assert leaked == []
    outbox = site.root.parent / "pi-a" / "outbox.db"
    for path in (site.db, site.layout.ca_key, site.layout.coordinator_bundle, outbox):
        assert path.stat().st_mode & 0o077 == 0, path
