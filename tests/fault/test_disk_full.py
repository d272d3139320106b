"""Fault: the agent's disk fills up (outbox on a small real tmpfs; CI runs as root).

While the disk is full the agent must stay alive, keep scoring, count what it cannot
store (``disk_full``) and say so (log, heartbeat ``conditions`` and ``dropped``). When
space returns (the test deletes the filler file it wrote) appends resume, the outbox
passes ``integrity_check`` and every reading the outbox accepted reaches the store once.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.shared.topics import Topics
from tests.support.edgewatch import AgentRun, Coordinator, ledger
from tests.support.mosquitto import MosquittoProcess, MqttProbe
from tests.support.procs import ProcGroup, wait_until

AGENT = "disk-1"
COUNT = 8000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs of our own, unmounted at teardown."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


@pytest.fixture
def heartbeats(mosquitto: MosquittoProcess) -> Iterator[MqttProbe]:
    """A bare subscriber on the agent's heartbeat topic (no coordinator needed)."""
    probe = MqttProbe(mosquitto.host, mosquitto.port).start()
    try:
        probe.subscribe(Topics().heartbeat(AGENT), qos=0)
        yield probe
    finally:
        probe.stop()


def _fill(disk: Path) -> Path:
    """Write a filler file until the filesystem refuses another byte."""
    filler = disk / "filler"
    block = b"\0" * 65536
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    # Top up byte-sized gaps too; a single free page would let SQLite limp on.
    with filler.open("ab", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_disk_full_is_survived_reported_and_recovered(
    mosquitto: MosquittoProcess,
    small_disk: Path,
    heartbeats: MqttProbe,
    procs: ProcGroup,
    tmp_path: Path,
) -> None:
    # Broker up, coordinator not yet: nothing is acked, so the outbox only grows.
    agent = AgentRun(
        procs,
        AGENT,
        mosquitto.url,
        "5",
        small_disk,
        count=COUNT,
        rate=1000,
        extra=("--ack-timeout-s", "2"),
    ).start()
    assert agent.proc is not None
    wait_until(lambda: agent.outbox()["rows"] >= 500, 20, message="outbox did not fill")
    filler = _fill(small_disk)
    agent.proc.wait_for_log(r"outbox disk full, readings are being dropped", timeout=20)

    beats = heartbeats.expect(lambda _t, p: "disk_full" in json.loads(p)["conditions"], timeout=10)
    during = json.loads(beats[-1][1])
    assert during["dropped"].get("disk_full", 0) > 0
    assert agent.proc.alive, "the agent must not crash on a full disk"

    filler.unlink()  # space returns
    agent.proc.wait_for_log(r"outbox writable again", timeout=20)
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    assert agent.proc.wait(90) == 0, "agent did not drain after space returned"

    assert _integrity(agent.data_dir / "outbox.db") == "ok"
    box = agent.outbox()
    dropped = box["dropped:disk_full"]
    assert 0 < dropped < COUNT and box["rows"] == 0 and box["next_seq"] == COUNT - dropped
    # Exactly the readings the outbox refused are missing; the rest arrived once.
    report = ledger(coord, [agent], dropped=dropped)
    report.assert_clean()
    assert report.stored == COUNT - dropped
    # The heartbeat the coordinator kept says the condition cleared and what it cost.
    beat = coord.api(f"agents/{AGENT}")["heartbeat"]
    assert "disk_full" not in beat["conditions"]
    assert beat["dropped"] == {"disk_full": dropped}
