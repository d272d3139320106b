"""Fault: the uplink between agent and broker is cut, silently or loudly, then restored.

The fault proxy sits between the agent and the broker; the coordinator talks to the
broker directly, so only the agent's link breaks.

* **silent** (``blackhole()``): packets vanish, no FIN, no RST. Only the keepalive probe
  can notice: the agent must report the link down within 1.5 x keepalive + 1 s.
* **loud** (``reset()``): every connection is reset; the agent must notice within 1 s.

Detection is measured from the cut (taken just before the proxy call) to the timestamp
of the agent's own "MQTT link ... down" log line. During the outage the agent keeps
scoring into its outbox; after ``restore()`` it reconnects and resyncs, and the ledger
must be clean on both brokers.
"""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.edgewatch import AgentRun, Coordinator, ledger, protocol_for
from tests.support.faultproxy import ProxyFactory
from tests.support.mosquitto import BrokerUnderTest
from tests.support.procs import ProcGroup, wait_until

KEEPALIVE = 4
BOUND_S = {"silent": 1.5 * KEEPALIVE + 1, "reset": 1.0}
COUNT = 6000
RATE = 800.0
STEP = 800  # readings: flowing before the cut, scored during it
STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "
LINK_DOWN = re.compile(
    STAMP + r"WARNING edgewatch\.agent\.uplink: MQTT link to \S+ down", re.MULTILINE
)
LINK_UP = re.compile(STAMP + r"INFO edgewatch\.agent\.runner: uplink up;", re.MULTILINE)


def _max_seq(db: Path, agent_id: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT MAX(seq) FROM readings WHERE agent_id = ?", (agent_id,))
        return int(row.fetchone()[0] or -1)


def _first_after(pattern: re.Pattern[str], log: str, since: float) -> float | None:
    """Wall-clock time of the first line matching ``pattern`` logged at or after ``since``."""
    for match in pattern.finditer(log):
        # logging's asctime is local time with milliseconds; the test runs on the same box.
        at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if at >= since - 0.001:  # the log keeps milliseconds, time.time() keeps more
            return at
    return None


@pytest.mark.parametrize("how", ["silent", "reset"])
def test_uplink_cut_detected_scoring_continues_and_resyncs(
    how: str,
    broker: BrokerUnderTest,
    procs: ProcGroup,
    fault_proxy: ProxyFactory,
    tmp_path: Path,
) -> None:
    proto = protocol_for(broker.kind)
    coord = Coordinator(procs, broker.url, proto, tmp_path / "coord").start()
    proxy = fault_proxy(broker.host, broker.port)
    agent = AgentRun(
        procs,
        f"cut-{how}",
        f"mqtt://{proxy.host}:{proxy.port}",
        proto,
        tmp_path,
        count=COUNT,
        rate=RATE,
        extra=("--keepalive", str(KEEPALIVE), "--ack-timeout-s", "2", "--batch-max", "100"),
    ).start()
    proc = agent.proc
    assert proc is not None
    wait_until(lambda: coord.stored() >= STEP, 30, message="nothing flowed before the cut")

    cut_at = time.time()
    if how == "silent":
        proxy.blackhole()
    else:
        proxy.reset()
    wait_until(
        lambda: _first_after(LINK_DOWN, proc.log_text(), cut_at) is not None,
        BOUND_S[how] + 5,
        message="agent never reported its link down",
    )
    down_at = _first_after(LINK_DOWN, proc.log_text(), cut_at)
    assert down_at is not None
    detection_s = down_at - cut_at
    print(f"{broker.kind}/{how}: dead link detected {detection_s:.2f}s after the cut")
    assert detection_s <= BOUND_S[how], f"detected after {detection_s:.2f}s"

    # Still cut: the agent keeps scoring into its outbox, and nothing it scored after it
    # saw the link die reaches the store (it cannot have sent it: its link is down).
    at_detection = agent.outbox()
    wait_until(
        lambda: agent.outbox()["next_seq"] >= at_detection["next_seq"] + STEP,
        10,
        message="agent stopped scoring during the outage",
    )
    assert agent.outbox()["rows"] > at_detection["rows"], "outbox did not grow while cut off"
    newest = _max_seq(coord.db, agent.agent_id)
    assert newest < at_detection["next_seq"], "readings arrived through a cut link"

    restored_at = time.time()
    proxy.restore()
    assert proc.wait(60) == 0, "agent did not resync and drain after restore"
    up_at = _first_after(LINK_UP, proc.log_text(), restored_at)
    assert up_at is not None, "agent drained without logging its link back up"
    print(f"{broker.kind}/{how}: link back up {up_at - restored_at:.2f}s after restore")

    report = ledger(coord, [agent])
    report.assert_clean()
    assert report.stored == COUNT == coord.stored()
