"""Fault: the coordinator dies between commit and ack, or stays down past the broker's queue.

Both on a real Mosquitto (its per-client queue limit is the fault of the second test).

* **Between commit and ack**: the test-only hook ``coordinator.faults`` makes the
  coordinator ``os._exit(137)`` right after a commit and before its acks, the one window
  where the store has rows the agent still thinks unacked. Restarted without the hook,
  it receives the agent's resends, must store none of them twice, and must count them
  in ``duplicates_dropped`` (proof that the window was hit).
* **Down past the queue**: with ``--batch-max 2`` and a wide in-flight window the agent
  publishes far more than Mosquitto's ``max_queued_messages`` (default 1000) while the
  coordinator is down; Mosquitto drops the excess silently and the outbox covers it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pytest

from edgewatch.agent.window import SendWindow
from edgewatch.coordinator.faults import (
    CRASH_STATUS,
    EXIT_AFTER_COMMIT_ENV,
    ExitAfterCommit,
    exit_after_commit_from,
)
from tests.support.edgewatch import AgentRun, Coordinator, ledger
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import Proc, ProcGroup, wait_until

# Mosquitto's notice when a client's queue is full: the silent loss, made visible.
DROPPING = "Outgoing messages are being dropped for client test-coordinator"


class _FaultEnv(ProcGroup):
    """The test's process group, with a fault variable set for what is spawned through it.

    It shares the group's process list, so teardown and the failure report see them.
    """

    def __init__(self, group: ProcGroup, env: Mapping[str, str]) -> None:
        super().__init__(group.log_dir)
        self.procs = group.procs
        self._env = dict(env)

    def edgewatch(self, *args: str, name: str, env: Mapping[str, str] | None = None) -> Proc:
        return super().edgewatch(*args, name=name, env={**self._env, **(env or {})})


def _stored_seqs(db: Path, agent_id: str) -> set[int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT seq FROM readings WHERE agent_id = ?", (agent_id,))
        return {int(seq) for (seq,) in rows}
    finally:
        conn.close()


def _outbox_seqs(agent: AgentRun) -> set[int]:
    conn = sqlite3.connect(f"file:{agent.data_dir / 'outbox.db'}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT first_seq, n FROM chunks")
        return {seq for first, n in rows for seq in range(first, first + n)}
    finally:
        conn.close()


def test_fault_hook_is_inert_unless_set() -> None:
    assert exit_after_commit_from({}) is None
    assert exit_after_commit_from({EXIT_AFTER_COMMIT_ENV: " "}) is None
    hook = exit_after_commit_from({EXIT_AFTER_COMMIT_ENV: "3"})
    assert isinstance(hook, ExitAfterCommit) and hook.after == 3
    hook.committed(0)  # a transaction without result batches is not counted
    hook.committed(1)
    hook.committed(2)
    assert hook.seen == 2  # one short of the exit
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ValueError, match=EXIT_AFTER_COMMIT_ENV):
            exit_after_commit_from({EXIT_AFTER_COMMIT_ENV: bad})


def test_coordinator_back_after_an_outage_ends_the_resend_backoff() -> None:
    """The window side of the overflow: a resend lost with the broker's queue must go
    again soon after the coordinator answers, not after its grown backoff (up to 300 s
    holding a backlog slot)."""
    w = SendWindow(inflight_max=8, ack_timeout_s=1.0)
    w.sent(0, 10, 0.0, "live")
    # Coordinator down: each copy of chunk 0 waits twice as long as the one before.
    for now, attempt in ((1.0, 1), (3.0, 2), (7.0, 3)):
        assert w.expire(now) == 1
        assert w.retry.popleft() == (0, attempt)
        w.sent(0, 10, now, "retry", attempt)
    assert w.expire(10.0) == 0  # third copy waits 8 s: still backing off, no ack seen
    # Coordinator back: a chunk sent after chunk 0's last copy is acked ...
    w.sent(10, 10, 9.0, "live")
    w.acked(10, 19)
    # ... so that copy was lost: chunk 0 goes again now, with its backoff ended.
    assert w.expire(10.0) == 1
    assert list(w.retry) == [(0, 0)]


@pytest.mark.mosquitto
def test_coordinator_killed_between_commit_and_ack_dedupes_the_resends(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    count = 4000
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord")
    coord.procs = _FaultEnv(procs, {EXIT_AFTER_COMMIT_ENV: "5"})
    coord.start()
    agent = AgentRun(
        procs,
        "ck-1",
        mosquitto.url,
        "5",
        tmp_path,
        count=count,
        rate=1000,
        extra=("--batch-max", "100", "--ack-timeout-s", "2", "--keepalive", "4"),
    ).start()
    assert coord.proc is not None and agent.proc is not None
    assert coord.proc.wait(30) == CRASH_STATUS
    assert "before its acks" in coord.proc.log_text()

    # The window really was hit: rows committed by the dead coordinator are still in
    # the agent's outbox, unacked. (The agent cannot get an ack from anyone meanwhile.)
    stored = _stored_seqs(coord.db, "ck-1")
    assert stored, "the crash came before any commit"
    assert stored & _outbox_seqs(agent), "every committed row was acked: window missed"

    coord.procs = procs  # restarted without the hook
    coord.start()
    assert agent.proc.wait(60) == 0, "agent did not drain after the coordinator returned"
    report = ledger(coord, [agent])
    report.assert_clean()
    assert report.stored == count == coord.stored()
    stats = coord.api("stats")
    assert stats["readings_stored"] == count
    assert stats["duplicates_dropped"] > 0
    assert stats["agents"]["ck-1"]["duplicates_dropped"] > 0


@pytest.mark.mosquitto
@pytest.mark.slow
def test_coordinator_down_past_the_broker_queue_outbox_covers_the_overflow(
    mosquitto: MosquittoProcess, procs: ProcGroup, tmp_path: Path
) -> None:
    count = 5000
    batch = 2
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    agent = AgentRun(
        procs,
        "cq-1",
        mosquitto.url,
        "5",
        tmp_path,
        count=count,
        rate=1000,
        extra=(
            "--batch-max",
            str(batch),
            # A window wider than the broker's queue (1000, Mosquitto's default), so
            # the agent alone overflows it while the coordinator is down.
            "--inflight-max",
            "4000",
            "--ack-timeout-s",
            "2",
            "--keepalive",
            "4",
        ),
    ).start()
    assert coord.proc is not None and agent.proc is not None
    wait_until(lambda: coord.stored() >= 200, 30, message="nothing stored before the kill")
    coord.proc.kill()
    down_from = coord.stored()

    # Everything is generated while the coordinator is down.
    wait_until(lambda: agent.outbox()["next_seq"] >= count, 30, message="agent stalled while alone")
    assert (count - down_from) // batch > 1000, "the backlog is not over 1000 messages"
    wait_until(
        lambda: DROPPING in mosquitto.log_path.read_text(errors="replace"),
        20,
        message="Mosquitto never reported dropping messages for the coordinator",
    )

    coord.start()
    assert agent.proc.wait(90) == 0, "agent did not drain after the coordinator returned"
    report = ledger(coord, [agent])
    report.assert_clean()
    assert report.stored == count == coord.stored()
    # The restarted coordinator got the broker's queue (session present) but not all of
    # it: the rest came from the agent's resends, stored once.
    sessions = [line for line in coord.proc.log_text().splitlines() if "session present" in line]
    assert sessions[-1].endswith("(session present: True)")
