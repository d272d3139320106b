"""``edgewatch status`` against a running coordinator: exit codes, table, JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from edgewatch.shared.cli import main
from edgewatch.shared.schemas import AgentStatus, Heartbeat, Hello
from tests.support.coordinator import (
    TOPICS,
    ApiServer,
    Publisher,
    coord_embedded,
    make_settings,
    serve,
    wait_ready,
)
from tests.support.procs import free_port, wait_until

__all__ = ["coord_embedded"]


@pytest.fixture
def api(tmp_path: Path, coord_embedded: str) -> Iterator[tuple[ApiServer, Publisher]]:
    gen = serve(make_settings(tmp_path, coord_embedded))
    server = next(gen)
    pub = Publisher(coord_embedded)
    wait_ready(server.service, pub)
    try:
        yield server, pub
    finally:
        pub.close()
        gen.close()


def announce(pub: Publisher, agent_id: str, online: bool) -> None:
    now = time.time()
    hello = Hello(agent_id=agent_id, ts=now, version="0.1.0", tier="low", sensors=1, epoch=1)
    pub.publish(TOPICS.hello(agent_id), orjson.dumps(hello.model_dump()))
    beat = Heartbeat(
        agent_id=agent_id, ts=now, uptime_s=1, cpu_percent=5, memory_percent=9, rss_mb=50,
        outbox_rows=0, outbox_bytes=0, outbox_oldest_age_s=0, readings_scored=0,
        readings_acked=0, scorer="rules", mqtt_protocol="3.1.1",
    )  # fmt: skip
    pub.publish(TOPICS.heartbeat(agent_id), orjson.dumps(beat.model_dump()))
    state = AgentStatus(agent_id=agent_id, state="online" if online else "offline")
    pub.publish(TOPICS.status(agent_id), orjson.dumps(state.model_dump()))


def status(server: ApiServer, *extra: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("EDGEWATCH_API_TOKEN", server.token)
    return main(["status", "--api", server.base_url, *extra])


def test_all_well_then_an_agent_offline_needs_attention(
    api: tuple[ApiServer, Publisher],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, pub = api
    announce(pub, "pi-1", online=True)
    wait_until(lambda: server.service.store.agent("pi-1") is not None, 10)
    assert status(server, monkeypatch=monkeypatch) == 0
    out = capsys.readouterr().out
    assert "pi-1" in out and "all well" in out
    announce(pub, "pi-2", online=False)
    wait_until(lambda: server.service.store.agent("pi-2") is not None, 10)
    assert status(server, "--json", monkeypatch=monkeypatch) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["attention"] == ["pi-2 is offline"] and doc["ready"] is True
    assert {a["id"] for a in doc["agents"]} >= {"pi-1", "pi-2"}


def test_a_wrong_token_or_no_coordinator_is_3_and_no_token_is_2(
    api: tuple[ApiServer, Publisher],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = api
    wrong = tmp_path / "token"
    wrong.write_text("w" * 40)
    assert main(["status", "--api", server.base_url, "--token-file", str(wrong)]) == 3
    assert "HTTP 401" in capsys.readouterr().err
    monkeypatch.setenv("EDGEWATCH_API_TOKEN", server.token)
    assert main(["status", "--api", f"http://127.0.0.1:{free_port()}"]) == 3
    assert "cannot reach" in capsys.readouterr().err
    monkeypatch.delenv("EDGEWATCH_API_TOKEN")
    assert main(["status", "--api", server.base_url]) == 2
    err = capsys.readouterr().err
    assert "no API token" in err and server.token not in err
