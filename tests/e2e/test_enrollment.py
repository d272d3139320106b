"""The enrollment path as an operator walks it, every step a real command:

    edgewatch site init DIR --mqtt-port N --host HOST      (once)
    mosquitto -c DIR/mosquitto.conf                         (the broker)
    edgewatch coordinator --bundle DIR/coordinator.bundle   (the coordinator)
    edgewatch enroll pi-1 --site DIR --out pi-1.bundle      one command on the coordinator
    cp pi-1.bundle <the Pi>                                 one file copied
    edgewatch agent --bundle pi-1.bundle                    one command on the agent

and then ``agents list``, ``revoke`` (the agent is cut off, its readings stop), with the
dynamic-security plugin and with the password/ACL-file fallback.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.mosquitto import find_mosquitto
from tests.support.procs import ProcGroup, edgewatch_argv, free_port, wait_until
from tests.support.secure_site import Attacker, tls_context

pytestmark = pytest.mark.mosquitto


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(edgewatch_argv(*args), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def _stored(db: Path, agent: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM readings WHERE agent_id = ?", (agent,)).fetchone()[0]
        )
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


@pytest.mark.parametrize("auth", ["dynsec", "files"])
def test_one_command_one_file_one_command(tmp_path: Path, procs: ProcGroup, auth: str) -> None:
    site, pi = tmp_path / "site", tmp_path / "pi"
    port = free_port()
    made = _run(
        "site", "init", str(site), "--mqtt-port", str(port), "--host", "127.0.0.1", "--auth", auth
    )
    assert f"mosquitto -c {site.resolve()}/mosquitto.conf" in made.stdout
    conf = site / "mosquitto.conf"
    if os.geteuid() == 0:  # pytest's tmp dirs are closed to the mosquitto user
        conf.write_text(conf.read_text() + "user root\n")
    broker = procs.spawn([str(find_mosquitto()), "-c", str(conf)], name="mosquitto")
    broker.wait_for_log(r"mosquitto version \S+ running", timeout=15)
    api = free_port()
    coordinator = procs.edgewatch(
        "coordinator",
        "--bundle",
        str(site / "coordinator.bundle"),
        "--port",
        str(api),
        name="coordinator",
    )
    coordinator.wait_for_log(r"MQTT 5 connected to mqtts://coordinator@127.0.0.1", timeout=30)

    # One command on the coordinator, one file copied, one command on the agent.
    bundle = tmp_path / "pi-1.bundle"
    _run(
        "enroll",
        "pi-1",
        "--site",
        str(site),
        "--out",
        str(bundle),
        "--tier",
        "medium",
        "--location",
        "52.52,13.40",
    )
    pi.mkdir()
    shutil.copy(bundle, pi / "pi-1.bundle")
    agent = procs.edgewatch(
        "agent",
        "--bundle",
        str(pi / "pi-1.bundle"),
        "--data-dir",
        str(pi / "data"),
        "--sensors",
        "5",
        "--rate",
        "200",
        name="pi-1",
    )
    db = site / "coordinator.db"
    wait_until(lambda: _stored(db, "pi-1") >= 300, 30, message="pi-1's readings never stored")

    listed = _run("agents", "list", "--site", str(site)).stdout
    row = next(line for line in listed.splitlines() if line.startswith("pi-1 "))
    assert "agent" in row and " yes " in row and "online" in row
    assert oct(bundle.stat().st_mode & 0o777) == "0o600"
    token = (site / "api-token").read_text().strip()
    seen = _get(api, "/api/v1/agents/pi-1", token)
    assert (seen["tier"], seen["latitude"], seen["longitude"]) == ("medium", 52.52, 13.4)

    revoked = _run("revoke", "pi-1", "--site", str(site))
    assert "revoked pi-1" in revoked.stdout
    if auth == "dynsec":
        # Cut off at once: the agent's link goes down and its readings stop.
        agent.wait_for_log(r"MQTT link to \S+ down", timeout=10)
    else:
        # The fallback cannot cut a live connection: the reloaded ACL refuses its publishes.
        agent.wait_for_log(r"Not authorized", timeout=20)
    frozen = _stored(db, "pi-1")
    thief = Attacker(
        "127.0.0.1",
        port,
        "pi-1",
        _password(pi / "pi-1.bundle"),
        client_id="edgewatch-agent-pi-1",
        context=tls_context((site / "ca.crt").read_text()),
    )
    code = thief.connect()
    thief.close()
    assert code is not None and code.is_failure  # the copied bundle is worthless now
    agent.terminate()
    assert _stored(db, "pi-1") == frozen
    assert coordinator.alive


def _get(port: int, path: str, token: str) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def _password(bundle: Path) -> str:
    return str(json.loads(bundle.read_text())["password"])


def test_files_mode_binds_client_ids_to_usernames(tmp_path: Path, procs: ProcGroup) -> None:
    """Without the plugin, ``use_username_as_clientid`` stops take-overs: a thief that
    asks for the coordinator's client id gets its own username as client id instead."""
    site = tmp_path / "site"
    port = free_port()
    _run(
        "site",
        "init",
        str(site),
        "--mqtt-port",
        str(port),
        "--host",
        "127.0.0.1",
        "--auth",
        "files",
    )
    conf = site / "mosquitto.conf"
    if os.geteuid() == 0:
        conf.write_text(conf.read_text() + "user root\n")
    broker = procs.spawn([str(find_mosquitto()), "-c", str(conf)], name="mosquitto")
    broker.wait_for_log(r"mosquitto version \S+ running", timeout=15)
    _run("enroll", "pi-t", "--site", str(site), "--out", str(tmp_path / "pi-t.bundle"))
    broker.wait_for_log("Reloading config", timeout=10)
    ca = tls_context((site / "ca.crt").read_text())
    coordinator = Attacker(
        "127.0.0.1",
        port,
        "coordinator",
        _password(site / "coordinator.bundle"),
        client_id="coordinator",
        context=ca,
    )
    assert coordinator.connect() is not None and coordinator.accepted
    thief = Attacker(
        "127.0.0.1",
        port,
        "pi-t",
        _password(tmp_path / "pi-t.bundle"),
        client_id="coordinator",
        context=ca,
    )
    assert thief.connect() is not None and thief.accepted
    refused = thief.publish("edgewatch/agents/pi-x/results", b"{}")
    thief.close()
    still = coordinator.publish("edgewatch/agents/pi-t/ack", b"{}")
    coordinator.close()
    assert coordinator.disconnects == [] or coordinator.disconnects[-1] == "Normal disconnection"
    assert "closing old connection" not in broker.log_text()
    assert refused.value == 0x87 and not still.is_failure
