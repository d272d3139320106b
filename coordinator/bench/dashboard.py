"""``edgewatch bench dashboard``: the live page with a fleet of 100 agents, in Chromium.

A private Mosquitto, a real coordinator process, ``--agents`` protocol-level emulated
agents (``bench.control_agents``: hello, status, heartbeats) and Debian's Chromium driven by
Playwright (a dev dependency: ``pip install '.[dev]'``). Measured:

- ``first_paint_ms``: from navigating to ``/`` (signed in) until the fleet table shows
  every agent, the median of ``--rounds`` fresh page loads;
- ``update_ms``: from an agent's status changing on MQTT until its row on the open page
  says so, p50 and max over ``--rounds`` changes;
- ``page_bytes``: what the page loads (HTML, scripts, styles; not the event stream).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edgewatch.coordinator.bench.brokers import BrokerProcess
from edgewatch.coordinator.bench.control_agents import EmulatedAgent
from edgewatch.coordinator.bench.procs import edgewatch_argv, spawn, stop, wait_healthy
from edgewatch.coordinator.broker.embedded import free_port
from edgewatch.shared.cli import fail

TARGETS = {"first_paint_ms": 1000.0, "update_ms": 2000.0, "page_bytes": 300_000}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--agents", type=int, default=100, help="emulated agents")
    parser.add_argument("--rounds", type=int, default=10, help="page loads and updates")
    parser.add_argument("--chromium", default="chromium", help="the browser binary")
    parser.add_argument("--workdir", type=Path, help="keep files here")


def run(args: argparse.Namespace) -> int:
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        return fail("bench dashboard", "needs Playwright: pip install '.[dev]'")
    browser = shutil.which(args.chromium)
    if browser is None:
        return fail("bench dashboard", f"{args.chromium} not found (apt-get install chromium)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edgewatch-dashboard-"))
    work.mkdir(parents=True, exist_ok=True)
    with BrokerProcess("mosquitto", work) as broker, sync_playwright() as pw:
        port = free_port()
        db = work / "coordinator.db"
        coordinator = spawn(
            edgewatch_argv(
                "coordinator", "--broker", broker.url, "--db", str(db), "--port", str(port),
                "--client-id", f"bench-dash-{port}", "--agent-timeout-s", "3600",
            ),
            work / "coordinator.log",
        )  # fmt: skip
        agents: list[EmulatedAgent] = []
        try:
            wait_healthy(port, 60)
            token = (db.parent / "api-token").read_text().strip()
            agents = [EmulatedAgent(f"d{i:03d}", broker.port, {}) for i in range(args.agents)]
            beating = _heartbeats(agents)
            chromium = pw.chromium.launch(executable_path=browser, args=CHROMIUM_ARGS)
            result = _measure(chromium, f"http://127.0.0.1:{port}", token, agents, args.rounds)
            chromium.close()
            beating.set()
        finally:
            for agent in agents:
                agent.close()
            stop(coordinator)
    result.update(agents=args.agents, rounds=args.rounds, workdir=str(work))
    result["targets"] = {
        "first_paint_ms<=1000": result["first_paint_ms"] <= TARGETS["first_paint_ms"],
        "update_ms_max<=2000": result["update_ms_max"] <= TARGETS["update_ms"],
        "page_bytes<=300KB": result["page_bytes"] <= TARGETS["page_bytes"],
    }
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


def _heartbeats(agents: list[EmulatedAgent]) -> threading.Event:
    done = threading.Event()

    def beat() -> None:
        while not done.wait(2.0):
            for a in agents:
                a.heartbeat()

    threading.Thread(target=beat, name="bench-heartbeats", daemon=True).start()
    return done


def _measure(
    chromium: Any, base: str, token: str, agents: list[EmulatedAgent], rounds: int
) -> dict[str, Any]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    last_row = f"#fleet tbody tr:nth-child({len(agents)})"
    page.wait_for_selector(last_row, timeout=60_000)  # every agent announced
    sizes: dict[str, int] = {}

    def keep(response: Any) -> None:
        if "/dashboard/events" not in response.url:
            sizes[response.url] = len(response.body())

    paints: list[float] = []
    for i in range(rounds):
        if i == 0:
            page.on("response", keep)
        started = time.perf_counter()
        page.goto(f"{base}/")
        page.wait_for_selector(last_row)
        paints.append((time.perf_counter() - started) * 1000)
        if i == 0:
            page.remove_listener("response", keep)
    updates: list[float] = []
    for i in range(rounds):
        agent = agents[i % len(agents)]
        cell = page.locator(f'#fleet tr[data-agent="{agent.agent_id}"] [data-field="state"]')
        for state in ("offline", "online"):
            started = time.perf_counter()
            agent.set_state(state)
            cell.filter(has_text=state).wait_for(timeout=10_000)
            updates.append((time.perf_counter() - started) * 1000)
    context.close()
    return {
        "first_paint_ms": round(statistics.median(paints), 1),
        "first_paint_ms_max": round(max(paints), 1),
        "update_ms_p50": round(statistics.median(updates), 1),
        "update_ms_max": round(max(updates), 1),
        "page_bytes": sum(sizes.values()),
        "page_files": len(sizes),
    }
