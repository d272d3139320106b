"""Fault: the agent finds its outbox file corrupt at start (real Mosquitto, real processes).

A first run leaves a real outbox behind; garbage is written over it. The restarted
agent must detect it, keep the damaged file (moved aside, content intact), start a new
outbox with a new epoch, say so (log and heartbeat condition) and deliver its readings.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tests.support.edgewatch import AgentRun, Coordinator, ledger
from tests.support.mosquitto import MosquittoFactory
from tests.support.procs import ProcGroup, free_port, wait_until

COUNT = 2000


def _epoch(outbox: Path) -> int:
    conn = sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0])
    finally:
        conn.close()


def test_corrupt_outbox_is_moved_aside_and_a_new_epoch_delivers(
    mosquitto_factory: MosquittoFactory, procs: ProcGroup, tmp_path: Path
) -> None:
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    first = AgentRun(procs, "corrupt-1", url, "5", tmp_path, count=COUNT, rate=1000).start()
    wait_until(lambda: first.outbox()["rows"] >= 500, 20, message="first run wrote no outbox")
    assert first.proc is not None and first.proc.terminate() == 0
    outbox = first.data_dir / "outbox.db"
    old_epoch = _epoch(outbox)
    for leftover in ("-wal", "-shm"):
        Path(f"{outbox}{leftover}").unlink(missing_ok=True)
    garbage = os.urandom(outbox.stat().st_size)
    outbox.write_bytes(garbage)

    mosquitto_factory(port=port)
    coord = Coordinator(procs, url, "5", tmp_path / "coord").start()
    agent = AgentRun(procs, "corrupt-1", url, "5", tmp_path, count=COUNT, rate=1000).start()
    assert agent.proc is not None
    agent.proc.wait_for_log(r"outbox .* is corrupt .* moved aside to", timeout=20)
    # The operator sees the condition on the heartbeat the coordinator keeps.
    wait_until(
        lambda: "outbox_recovered" in _conditions(coord, "corrupt-1"),
        20,
        message="heartbeat never reported outbox_recovered",
    )
    assert agent.proc.wait(60) == 0, "agent did not drain from its new outbox"

    kept = sorted(first.data_dir.glob("outbox.db.corrupt-*"))
    assert [p.name for p in kept if not p.name.endswith(("-wal", "-shm"))] == [kept[0].name]
    assert kept[0].read_bytes() == garbage, "the damaged file must be kept as it was"
    new_epoch = _epoch(outbox)
    assert new_epoch != old_epoch
    # The new outbox restarts the source at 0: every reading once, all in the new epoch.
    ledger(coord, [agent]).assert_clean()
    conn = sqlite3.connect(f"file:{coord.db}?mode=ro", uri=True)
    try:
        epochs = conn.execute("SELECT epoch, COUNT(*) FROM readings GROUP BY epoch").fetchall()
    finally:
        conn.close()
    assert epochs == [(new_epoch, COUNT)]


def _conditions(coord: Coordinator, agent_id: str) -> list[str]:
    try:
        beat = coord.api(f"agents/{agent_id}")["heartbeat"]
    except OSError:
        return []  # not registered yet (404) or the API is busy: poll again
    return list((beat or {}).get("conditions", []))
