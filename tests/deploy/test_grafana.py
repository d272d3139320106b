"""deploy/grafana: every metric the dashboard queries is one we export.

The names come from a running coordinator's ``/metrics`` and a running agent's
``--metrics-port``, scraped for real, not from a list kept by hand.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.edgewatch import Coordinator
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup, free_port, wait_until

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "edgewatch-dashboard.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def queried() -> set[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    return {m for e in exprs for m in re.findall(r"\bedgewatch_[a-z0-9_]+", e)}


def exported(text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {s.name for s in family.samples}
        names |= {family.name + s for s in SUFFIXES.get(family.type, ())}
    return names


def scrape(url: str, token: str | None = None) -> str:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=5) as resp:
        return str(resp.read().decode())


@pytest.mark.mosquitto
def test_every_metric_the_dashboard_queries_is_exported(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    coord = Coordinator(procs, mosquitto.url, "5", tmp_path / "coord").start()
    port = free_port()
    procs.edgewatch(
        "agent", "--id", "graf-1", "--broker", mosquitto.url, "--data-dir",
        str(tmp_path / "agent"), "--sensors", "2", "--rate", "10", "--metrics-port", str(port),
        name="graf-1",
    )  # fmt: skip
    agent_url = f"http://127.0.0.1:{port}/metrics"
    wait_until(lambda: _answers(agent_url), 30, message="agent metrics never answered")
    token = (coord.db.parent / "api-token").read_text().strip()  # /metrics needs a token
    coordinator = scrape(f"http://127.0.0.1:{coord.port}/metrics", token)
    names = exported(coordinator) | exported(scrape(agent_url))
    wanted = queried()
    assert len(wanted) >= 15  # the dashboard really queries something
    assert wanted - names == set()


def _answers(url: str) -> bool:
    try:
        return "edgewatch_outbox_rows" in scrape(url)
    except OSError:
        return False
