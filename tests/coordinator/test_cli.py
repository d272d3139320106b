"""``edgewatch coordinator`` as a user runs it: --help, serve, stop on SIGTERM, and the
mistakes an operator makes at start (each one line on stderr, no traceback)."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from edgewatch.coordinator.broker.embedded import free_port
from edgewatch.coordinator.settings import CoordinatorSettings, ensure_api_token
from edgewatch.shared.cli import main
from edgewatch.shared.errors import ConfigError
from tests.support.mosquitto import MosquittoConfig, MosquittoFactory
from tests.support.procs import REPO_ROOT as ROOT
from tests.support.procs import child_env, edgewatch_argv

CONTRACT_FLAGS = (
    "--broker",
    "--db",
    "--host",
    "--port",
    "--topic-prefix",
    "--mqtt-version",
    "--api-token",
    "--max-payload-bytes",
    "--max-future-skew-s",
    "--share-group",
    "--queue-size",
    "--client-id",
)


def _edgewatch(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    return subprocess.Popen(
        [sys.executable, "-m", "edgewatch.shared.cli", "coordinator", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_help_lists_the_contract_flags() -> None:
    proc = _edgewatch("--help")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    missing = [flag for flag in CONTRACT_FLAGS if flag not in out]
    assert missing == []
    assert "EDGEWATCH_BROKER" in out


def test_placeholder_token_is_refused(tmp_path: Path) -> None:
    code = main(["coordinator", "--api-token", "changeme", "--db", str(tmp_path / "c.db")])
    assert code == 2
    assert not (tmp_path / "c.db").exists()


def test_serves_health_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port, mqtt_port = free_port(), free_port()
    proc = _edgewatch(
        "--broker",
        f"embedded:{mqtt_port}",
        "--db",
        str(tmp_path / "c.db"),
        "--port",
        str(port),
        "--client-id",
        "cli-test",
    )
    try:
        body = _wait_healthy(f"http://127.0.0.1:{port}/api/v1/health/ready", proc)
        assert body["status"] == "ready" and body["mqtt_protocol"] == "3.1.1"
        token = (tmp_path / "api-token").read_text().strip()
        stats = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/stats", headers={"Authorization": f"Bearer {token}"}
        )
        assert stats.status_code == 200 and stats.json()["readings_stored"] == 0
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "coordinator stopped" in out
    assert token not in out  # the generated token is written to a file, never logged


def _wait_healthy(
    url: str, proc: subprocess.Popen[str], timeout: float = 20.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            response = httpx.get(url, timeout=1)
            body: dict[str, object] = response.json()
            if body.get("status") == "ready":
                return body
        except httpx.HTTPError:
            time.sleep(0.1)  # not listening yet
            continue
        time.sleep(0.1)
    raise TimeoutError(f"{url} never became healthy")


# -- mistakes: one line on stderr, a non-zero exit, no traceback ------------------------------


def _run(*args: str, launcher: Sequence[str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = [*launcher, *args] if launcher else edgewatch_argv(*args)
    return subprocess.run(
        argv, cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60
    )


def _one_line(result: subprocess.CompletedProcess[str], verb: str, code: int) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"edgewatch {verb}:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else is listening on for the whole test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_broker_port_is_one_line(tmp_path: Path, taken_port: int) -> None:
    db = tmp_path / "c.db"
    result = _run(
        "coordinator", "--broker", f"embedded:{taken_port}", "--port", "0", "--db", str(db)
    )
    assert _one_line(result, "coordinator", 1) == (
        f"edgewatch coordinator: embedded broker: port {taken_port} is in use (another broker? "
        "use --broker embedded:PORT for another port, or --broker mqtt://HOST:PORT to use the "
        "broker already there)"
    )
    assert "coordinator stopped" in result.stderr  # the store was closed on the way out


def test_a_taken_api_port_is_one_line(tmp_path: Path, taken_port: int) -> None:
    result = _run("coordinator", "--port", str(taken_port), "--db", str(tmp_path / "c.db"))
    assert _one_line(result, "coordinator", 1) == (
        f"edgewatch coordinator: API port {taken_port} on 127.0.0.1 is in use "
        "(another coordinator? use --port N)"
    )
    # Refused before anything started: no broker, no store.
    assert not (tmp_path / "c.db").exists()


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


@pytest.mark.parametrize("token", [None, "a-configured-token-0123456789"])
def test_a_read_only_db_directory_is_one_line(read_only_dir: Path, token: str | None) -> None:
    # With a configured token nothing writes the token file: the store is the first writer.
    db = read_only_dir / "c.db"
    extra = ["--api-token-file", _write(read_only_dir.parent / "token", token)] if token else []
    result = _run("coordinator", "--broker", "embedded:0", "--port", "0", "--db", str(db), *extra)
    assert _one_line(result, "coordinator", 1) == (
        f"edgewatch coordinator: --db {db}: cannot write in {read_only_dir}: Read-only file system"
    )


def test_the_demo_with_a_read_only_data_dir_is_one_line(read_only_dir: Path) -> None:
    # Belongs with tests/coordinator/test_demo.py; kept beside the coordinator's twin.
    result = _run("demo", "--data-dir", str(read_only_dir), "--keep", "--duration", "1")
    assert _one_line(result, "demo", 1) == (
        f"edgewatch demo: --data-dir {read_only_dir}: cannot create {read_only_dir / 'logs'}: "
        "Read-only file system"
    )


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# Modules of the coordinator extra, as an agent-only install lacks them.
BLOCK_EXTRA = (
    "import runpy, sys\n"
    "for name in ('fastapi', 'starlette', 'uvicorn', 'amqtt', 'sklearn', 'skl2onnx', 'onnx'):\n"
    "    sys.modules[name] = None  # import raises ModuleNotFoundError\n"
    "sys.argv[0] = 'edgewatch'\n"
    "runpy.run_module('edgewatch.shared.cli', run_name='__main__')\n"
)


@pytest.mark.parametrize(
    ("verb", "args", "missing"),
    [
        ("coordinator", (), "uvicorn"),
        ("broker", ("--port", "0"), "amqtt"),
        ("demo", ("--duration", "1"), "uvicorn"),
        ("eval", ("skab", "."), "sklearn"),
        ("bench", ("scoring",), "skl2onnx"),
        ("train", ("--csv", "CSV", "--out", "OUT"), "onnx"),
    ],
)
def test_an_agent_only_install_names_the_extra_to_install(
    tmp_path: Path, verb: str, args: tuple[str, ...], missing: str
) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:00:01,2\n")
    args = tuple({"CSV": str(csv), "OUT": str(tmp_path / "m.onnx")}.get(a, a) for a in args) + (
        ("--data-dir", str(tmp_path / "demo")) if verb == "demo" else ()
    )
    result = _run(verb, *args, launcher=[sys.executable, "-c", BLOCK_EXTRA])
    assert _one_line(result, verb, 2) == (
        f"edgewatch {verb}: needs the coordinator extra: pip install 'edgewatch[coordinator]' "
        f"(missing module {missing})"
    )


# -- secrets ---------------------------------------------------------------------------------


def test_the_api_token_survives_a_restart(tmp_path: Path) -> None:
    tokens = []
    for _ in range(2):
        port = free_port()
        proc = _edgewatch(
            "--broker", f"embedded:{free_port()}", "--db", str(tmp_path / "c.db"),
            "--port", str(port), "--client-id", "restart-test",
        )  # fmt: skip
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/api/v1/health/ready", proc)
            token = (tmp_path / "api-token").read_text().strip()
            answer = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/stats",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 200
            tokens.append(token)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
    assert tokens[0] == tokens[1]
    assert stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600


def test_a_token_file_others_can_read_is_narrowed_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = CoordinatorSettings(db=tmp_path / "c.db")
    first = ensure_api_token(settings)
    settings.token_path.chmod(0o644)
    assert ensure_api_token(settings) == first
    assert stat.S_IMODE(settings.token_path.stat().st_mode) == 0o600
    assert "was readable by others (mode 644): now 0600" in caplog.text
    assert first not in caplog.text


def test_a_token_file_without_a_usable_token_is_refused(tmp_path: Path) -> None:
    settings = CoordinatorSettings(db=tmp_path / "c.db")
    settings.token_path.write_text("changeme\n")
    settings.token_path.chmod(0o600)
    with pytest.raises(ConfigError, match="holds a placeholder or shorter than 16 characters"):
        ensure_api_token(settings)
    assert settings.token_path.read_text() == "changeme\n"  # left for a person to look at
    settings.token_path.unlink()
    assert len(ensure_api_token(settings)) >= 16  # absent: generated


def test_the_broker_password_comes_from_its_file_and_is_never_shown(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    broker = mosquitto_factory(MosquittoConfig(users={"coordinator": "pw-of-the-coordinator"}))
    password = tmp_path / "broker-password"
    password.write_text("pw-of-the-coordinator\n")
    port = free_port()
    proc = _edgewatch(
        "--broker", f"mqtt://coordinator@{broker.host}:{broker.port}",
        "--broker-password-file", str(password), "--mqtt-version", "5",
        "--db", str(tmp_path / "c.db"), "--port", str(port),
    )  # fmt: skip
    try:
        # Ready means connected: Mosquitto refuses this user without the right password.
        _wait_healthy(f"http://127.0.0.1:{port}/api/v1/health/ready", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    # The banner says a password is used, never which.
    assert f"broker mqtt://coordinator:***@{broker.host}:{broker.port}," in out
    assert "pw-of-the-coordinator" not in out


def test_a_password_in_the_broker_url_is_masked_in_the_banner(tmp_path: Path) -> None:
    # From the environment (not visible in ps, so no warning); the broker is not there.
    env = {"EDGEWATCH_BROKER": f"mqtt://u:hunter22@127.0.0.1:{free_port()}"}
    proc = subprocess.Popen(
        edgewatch_argv("coordinator", "--db", str(tmp_path / "c.db"), "--port", str(free_port())),
        cwd=ROOT,
        env=child_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline()]
        while "API http" not in seen[-1] and seen[-1]:
            seen.append(proc.stdout.readline())
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    everything = "".join(seen) + out
    assert "broker mqtt://u:***@127.0.0.1:" in seen[-1], everything
    assert "hunter22" not in everything
