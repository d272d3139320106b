"""Fault: the PostgreSQL server crashes and comes back mid-stream (a cluster of the
test's own, never the shared server): nothing is acked while it is down, nothing lost,
nothing stored twice, ingest resumes by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.edgewatch import AgentRun, Coordinator, ledger
from tests.support.mosquitto import MosquittoProcess
from tests.support.postgres import PgCluster, PostgresMissing
from tests.support.procs import ProcGroup, wait_until


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[PgCluster]:
    try:
        pg = PgCluster(tmp_path / "pg").start()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield pg
    finally:
        pg.close()


@pytest.mark.mosquitto
@pytest.mark.slow
def test_postgres_crashing_mid_stream_loses_nothing_and_ingest_resumes(
    mosquitto: MosquittoProcess, procs: ProcGroup, cluster: PgCluster, tmp_path: Path
) -> None:
    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE edgewatch")
    url = cluster.url.rsplit("/", 1)[0] + "/edgewatch"
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord", store_url=url).start()
    agent = AgentRun(
        procs,
        "pg-1",
        mosquitto.url,
        "5",
        tmp_path,
        count=8000,
        rate=800,
        extra=("--batch-max", "100", "--ack-timeout-s", "2", "--keepalive", "4"),
    ).start()
    wait_until(lambda: coord.stored() >= 1500, 30, message="nothing stored before the crash")
    cluster.stop("immediate")  # a crash: no checkpoint, WAL replayed at the next start
    down_at = time.monotonic()
    assert coord.proc is not None
    wait_until(
        lambda: not coord.healthy(), 15, message="the coordinator never noticed the store was down"
    )
    time.sleep(max(0.0, 3.0 - (time.monotonic() - down_at)))
    cluster.start()
    assert agent.proc is not None
    assert agent.proc.wait(120) == 0, "agent did not drain after PostgreSQL came back"
    assert coord.proc.alive and coord.healthy()
    report = ledger(coord, [agent])
    report.assert_clean()
    assert report.stored == 8000 == coord.stored()
    assert coord.api("stats")["readings_stored"] == 8000
