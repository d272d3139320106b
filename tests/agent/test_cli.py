"""``edgewatch agent`` as an operator runs it, mistakes included.

Each mistake must end in one clear line on stderr and a non-zero exit, never in a
traceback; an agent the broker's ACL refuses keeps running and says why.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.shared.topics import Topics
from tests.support.mosquitto import MosquittoConfig, MosquittoFactory, MqttProbe
from tests.support.procs import REPO_ROOT, ProcGroup, child_env, edgewatch_argv, free_port

ACL = REPO_ROOT / "deploy" / "mosquitto" / "acl"


def _agent(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        edgewatch_argv("agent", *args),
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``edgewatch agent: ...`` line of a failed start (asserting there is one)."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("edgewatch agent:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A read-only tmpfs: root (as the tests run) ignores file modes, not a ro mount."""
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_a_bad_flag_value_names_the_flag_and_variable(tmp_path: Path) -> None:
    result = _agent("--rate", "-1", "--data-dir", str(tmp_path / "agent"))
    assert _one_line(result, 2) == (
        "edgewatch agent: --rate (EDGEWATCH_RATE): Input should be greater than or equal to 0"
    )
    assert "input_value" not in result.stderr and "pydantic" not in result.stderr
    assert not (tmp_path / "agent").exists()  # refused before anything was created


def test_a_read_only_data_dir_is_one_line(read_only_dir: Path) -> None:
    line = _one_line(_agent("--data-dir", str(read_only_dir), "--count", "1"), 1)
    assert line == (
        f"edgewatch agent: --data-dir {read_only_dir}: cannot write there: Read-only file system"
    )
    inside = read_only_dir / "agent"
    line = _one_line(_agent("--data-dir", str(inside), "--count", "1"), 1)
    assert line == (
        f"edgewatch agent: --data-dir {inside}: cannot create the directory: Read-only file system"
    )


def test_a_taken_metrics_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _agent(
            "--metrics-port", str(port), "--data-dir", str(tmp_path / "a"), "--count", "1"
        )
    assert _one_line(result, 1) == (
        f"edgewatch agent: metrics port {port} on 127.0.0.1 is in use "
        "(another agent? use --metrics-port N)"
    )


def _scrape(host: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=2) as resp:
        return str(resp.read().decode())


def test_metrics_listen_on_the_metrics_host(procs: ProcGroup, tmp_path: Path) -> None:
    port = free_port()
    # 127.0.0.2 is loopback too (Linux routes all of 127/8): reachable there, not on .1.
    agent = procs.edgewatch(
        "agent",
        "--metrics-host",
        "127.0.0.2",
        "--metrics-port",
        str(port),
        "--broker",
        f"mqtt://127.0.0.1:{free_port()}",  # no broker there: the agent runs offline
        "--data-dir",
        str(tmp_path / "agent"),
        "--rate",
        "10",
        name="agent",
    )
    agent.wait_for_log(rf"metrics=http://127\.0\.0\.2:{port}/metrics", timeout=20)
    assert "edgewatch_readings_scored" in _scrape("127.0.0.2", port)
    with pytest.raises(urllib.error.URLError):
        _scrape("127.0.0.1", port)
    assert agent.terminate() == 0


def test_an_agent_id_its_broker_user_may_not_publish_as_says_not_authorized(
    procs: ProcGroup, mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    broker = mosquitto_factory(MosquittoConfig(users={"pi-7": "pw-of-pi-7"}, acl_file=ACL))
    password = tmp_path / "broker-password"
    password.write_text("pw-of-pi-7\n")
    agent = procs.edgewatch(
        "agent",
        "--id",
        "pi-9",
        "--broker",
        f"mqtt://pi-7@{broker.host}:{broker.port}",
        "--broker-password-file",
        str(password),
        "--mqtt-version",
        "5",
        "--data-dir",
        str(tmp_path / "agent"),
        "--rate",
        "50",
        name="agent",
    )
    line = agent.wait_for_log(r"broker refused publish to edgewatch/agents/pi-9/results: .*$", 15)
    assert "Not authorized" in line.group(0) and "--id match its broker username" in line.group(0)
    assert agent.alive, "a refused agent must keep running (and keep its readings)"
    assert "pw-of-pi-7" not in agent.log_text()
    assert agent.terminate() == 0


def test_the_heartbeat_carries_not_authorized_when_the_broker_lets_it_through(
    procs: ProcGroup, mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    # An ACL that lets pi-9 send heartbeats only: its results are refused, and the
    # heartbeat that says so reaches the monitor.
    acl = tmp_path / "acl"
    acl.write_text(
        "user pi-9\ntopic write edgewatch/agents/pi-9/heartbeat\n"
        "user monitor\ntopic read edgewatch/#\n"
    )
    users = {"pi-9": "pw-9", "monitor": "pw-m"}
    broker = mosquitto_factory(MosquittoConfig(users=users, acl_file=acl))
    monitor = MqttProbe(broker.host, broker.port, username="monitor", password="pw-m").start()
    try:
        monitor.subscribe(Topics().heartbeat("pi-9"), qos=0)
        procs.edgewatch(
            "agent",
            "--id",
            "pi-9",
            "--broker",
            f"mqtt://pi-9@{broker.host}:{broker.port}",
            "--mqtt-version",
            "5",
            "--data-dir",
            str(tmp_path / "agent"),
            "--heartbeat-s",
            "0.5",
            name="agent",
            env={"EDGEWATCH_BROKER_PASSWORD": "pw-9"},
        )
        beats = monitor.expect(
            lambda _t, p: "not_authorized" in json.loads(p)["conditions"], timeout=15
        )
    finally:
        monitor.stop()
    assert json.loads(beats[-1][1])["agent_id"] == "pi-9"
