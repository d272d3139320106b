"""Fault: a flapping uplink, down/up every 1-5 s for about 40 s, on both brokers.

The fault proxy between agent and broker flaps: first silently (``blackhole``), then
loudly (``reset``), 18 s each (plus the last up phase), on a seeded schedule. The agent
streams throughout and past the end. What must hold:

* no stuck in-flight window: once the flapping stops, everything drains and the agent
  exits on its own (``--exit-when-drained``);
* no growth beyond the outbox bound: the depth sampled during the flapping stays under
  ``--outbox-max-rows`` and nothing is dropped, i.e. the agent made progress in the up
  phases instead of piling up a backlog (a stuck window would hit the bound and drop);
* the ledger is clean: nothing lost, nothing stored twice, no reorder within a sensor.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Literal

import pytest

from tests.support.edgewatch import AgentRun, Coordinator, ledger, protocol_for
from tests.support.faultproxy import ProxyFactory
from tests.support.mosquitto import BrokerUnderTest
from tests.support.procs import ProcGroup, wait_until

FLAP_S = 18.0  # per mode: blackhole, then reset
RATE = 300.0
# The stream outlasts the flapping (a flap may overrun by one up phase, up to 5 s).
COUNT = int(RATE * (2 * FLAP_S + 12))
MAX_ROWS = int(RATE * 20)  # 20 s of readings: less than half the stream
SEED = 7
MODES: tuple[Literal["blackhole", "reset"], ...] = ("blackhole", "reset")


class _DepthSampler:
    """Samples the agent's outbox depth from its file in the background; keeps the max."""

    def __init__(self, agent: AgentRun, interval_s: float = 0.25) -> None:
        self.agent = agent
        self.interval_s = interval_s
        self.max_rows = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="depth-sampler", daemon=True)

    def __enter__(self) -> _DepthSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.max_rows = max(self.max_rows, self.agent.outbox()["rows"])
            self.samples += 1


@pytest.mark.slow
def test_flapping_uplink_no_stuck_window_no_growth_past_bound(
    broker: BrokerUnderTest, procs: ProcGroup, fault_proxy: ProxyFactory, tmp_path: Path
) -> None:
    proto = protocol_for(broker.kind)
    coord = Coordinator(procs, broker.url, proto, tmp_path / "coord").start()
    proxy = fault_proxy(broker.host, broker.port)
    agent = AgentRun(
        procs,
        "flappy-1",
        f"mqtt://{proxy.host}:{proxy.port}",
        proto,
        tmp_path,
        count=COUNT,
        rate=RATE,
        extra=(
            "--keepalive",
            "4",
            "--ack-timeout-s",
            "2",
            "--batch-max",
            "100",
            "--outbox-max-rows",
            str(MAX_ROWS),
        ),
    ).start()
    assert agent.proc is not None
    wait_until(lambda: coord.stored() >= 300, 30, message="nothing flowed before the flapping")

    with _DepthSampler(agent) as depth:
        cycles = 0
        for i, how in enumerate(MODES):
            flapper = proxy.flap((1, 5), (1, 5), duration_s=FLAP_S, seed=SEED + i, how=how)
            flapper.join(FLAP_S + 10)
            assert not flapper.running
            cycles += flapper.cycles
        flapped_at = time.time()
        assert proxy.mode == "up"
        assert agent.proc.wait(60) == 0, "agent did not drain after the flapping stopped"
    print(
        f"{broker.kind}: {cycles} cuts, outbox max {depth.max_rows} rows "
        f"(bound {MAX_ROWS}), drained {time.time() - flapped_at:.1f}s after the flapping"
    )

    assert cycles >= 2 * FLAP_S / 10, "the proxy hardly flapped"
    assert depth.samples > 0 and 0 < depth.max_rows <= MAX_ROWS
    outbox = agent.outbox()
    assert outbox == {"rows": 0, "next_seq": COUNT}, outbox  # no dropped:* counters at all
    report = ledger(coord, [agent])
    report.assert_clean()
    assert report.stored == COUNT == coord.stored()
    # The link really broke again and again, and came back each time.
    assert agent.proc.log_text().count("INFO edgewatch.agent.runner: uplink up;") >= 3
