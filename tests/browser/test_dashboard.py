"""The live dashboard in a real browser, against a real coordinator and real agents.

Real Mosquitto, a coordinator with a simulated fleet and two agents following their
assignment: the page renders the fleet and numbers from them, the numbers move without a
reload, a killed agent turns offline on the page, the page rides out a coordinator
restart, and a stale session gets the login page. No console errors anywhere.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched
from tests.support.edgewatch import Coordinator
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import Proc, ProcGroup, wait_until

pytestmark = pytest.mark.mosquitto
AGENTS = ("pi-1", "pi-2")
OFFLINE_BOUND_S = 5.0  # last will -> coordinator -> next board tick (1 s) -> page


def start_fleet(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp: Path
) -> tuple[Coordinator, dict[str, Proc]]:
    coord = Coordinator(
        procs,
        mosquitto.url,
        "5",
        tmp / "coord",
        extra=("--simulated-fleet", "12", "--sim-rate-hz", "4", "--agent-timeout-s", "5"),
    ).start()
    agents = {agent: start_agent(procs, mosquitto, tmp, agent) for agent in AGENTS}
    wait_until(lambda: _online(coord) == set(AGENTS), 30, message="agents never came online")
    return coord, agents


def start_agent(procs: ProcGroup, mosquitto: MosquittoProcess, tmp: Path, agent: str) -> Proc:
    return procs.edgewatch(
        "agent", "--id", agent, "--broker", mosquitto.url, "--mqtt-version", "5",
        "--data-dir", str(tmp / agent), "--source", "assigned", "--heartbeat-s", "1",
        "--keepalive", "4", name=agent,
    )  # fmt: skip


def _online(coord: Coordinator) -> set[str]:
    return {a["id"] for a in coord.api("agents") if a["state"] == "online"}


def token_of(coord: Coordinator) -> str:
    return (coord.db.parent / "api-token").read_text().strip()


def sign_in(page: Page, coord: Coordinator) -> None:
    base = f"http://127.0.0.1:{coord.port}"
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login")
    page.fill("#token", token_of(coord))
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/")
    expect(page.locator("#link")).to_have_attribute("data-state", "live")


def number(page: Page, selector: str) -> int:
    return int(page.inner_text(selector).replace(",", "").replace("–", "") or 0)


def wait_above(page: Page, selector: str, value: int, timeout: float = 15.0) -> int:
    """Wait until the number shown in ``selector`` exceeds ``value`` (polled from here:
    the page's CSP forbids the eval that ``wait_for_function`` needs, as it should)."""
    wait_until(lambda: number(page, selector) > value, timeout, message=f"{selector} stuck")
    return number(page, selector)


def test_the_page_shows_the_fleet_and_its_numbers_move_without_a_reload(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp_path: Path, watched: Watched
) -> None:
    coord, _agents = start_fleet(procs, mosquitto, tmp_path)
    page = watched.page
    sign_in(page, coord)
    for agent in AGENTS:
        row = page.locator(f'#fleet tr[data-agent="{agent}"]')
        expect(row.locator('[data-field="state"]')).to_have_text("online")
    expect(page.locator("#kpi-online")).to_have_text("2")
    before = wait_above(page, "#kpi-stored", 0)
    navigations: list[str] = []
    page.on("framenavigated", lambda f: navigations.append(f.url))
    wait_above(page, "#kpi-stored", before)
    assert navigations == []  # it moved by itself: no reload
    # The charts draw what the store committed: the ingest chart has points above zero.
    expect(page.locator("#chart-ingest canvas")).to_have_count(1)
    # The figures are the store's: never ahead of what the API reads a moment later.
    shown = number(page, "#kpi-stored")
    assert 0 < shown <= coord.api("stats")["readings_stored"]
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    # A sensor's page: its readings as charts, one per metric.
    page.goto(f"http://127.0.0.1:{coord.port}/#sensor/SENSOR_000")
    expect(page.locator("#sensor-title")).to_have_text("Sensor SENSOR_000")
    expect(page.locator("#sensor-charts canvas")).to_have_count(5)  # the simulator's metrics
    expect(page.locator("#sensor-readings tbody tr").first).to_be_visible()


def test_a_killed_agent_turns_offline_on_the_page_within_the_bound(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp_path: Path, watched: Watched
) -> None:
    coord, agents = start_fleet(procs, mosquitto, tmp_path)
    page = watched.page
    sign_in(page, coord)
    state = page.locator('#fleet tr[data-agent="pi-2"] [data-field="state"]')
    expect(state).to_have_text("online")
    killed = time.monotonic()
    agents["pi-2"].kill()
    expect(state).to_have_text("offline", timeout=OFFLINE_BOUND_S * 1000)
    assert time.monotonic() - killed <= OFFLINE_BOUND_S
    expect(page.locator("#kpi-online")).to_have_text("1")


def test_the_page_rides_out_a_coordinator_restart(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp_path: Path, watched: Watched
) -> None:
    coord, _agents = start_fleet(procs, mosquitto, tmp_path)
    page = watched.page
    sign_in(page, coord)
    # While it is down the stream's reconnects fail: the browser logs those.
    watched.allow("ERR_CONNECTION_REFUSED")
    watched.allow("ERR_INCOMPLETE_CHUNKED_ENCODING")  # the stream cut by the shutdown
    watched.allow("503")
    link = page.locator("#link")
    assert coord.proc is not None
    coord.proc.terminate()
    expect(link).not_to_have_attribute("data-state", "live")
    coord.start()  # same port, same store: the session key and the token are kept
    expect(link).to_have_attribute("data-state", "live", timeout=20_000)
    wait_above(page, "#kpi-stored", number(page, "#kpi-stored"))
    assert page.url.endswith(f":{coord.port}/")  # never sent to the login page


def test_a_stale_session_or_a_wrong_token_gets_the_login_page(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp_path: Path, watched: Watched
) -> None:
    coord, _agents = start_fleet(procs, mosquitto, tmp_path)
    page = watched.page
    base = f"http://127.0.0.1:{coord.port}"
    page.context.add_cookies([{"name": "edgewatch_session", "value": "forged.value", "url": base}])
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login")
    watched.allow("401")  # the refused login's answer, logged by the browser
    page.fill("#token", "not-the-token-of-this-coordinator")
    page.click("button[type=submit]")
    expect(page.locator("#error")).to_have_text("That token is not valid here.")
    # Signed in, then out: the next visit is the login page again.
    sign_in(page, coord)
    page.click("#logout")
    expect(page).to_have_url(f"{base}/login")
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/login")


def test_acknowledging_an_alert_on_the_page_changes_it_in_the_api(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp_path: Path, watched: Watched
) -> None:
    coord, agents = start_fleet(procs, mosquitto, tmp_path)
    page = watched.page
    sign_in(page, coord)
    agents["pi-2"].kill()  # one of two agents: fleet availability 50 %, below 80 %
    row = page.locator("#alerts tr", has=page.locator("td", has_text="fleet_availability"))
    expect(row.locator('[data-field="state"]')).to_have_text("open", timeout=15_000)
    alert_id = int(row.get_attribute("data-alert") or 0)
    row.locator('button[data-action="ack"]').click()
    expect(row.locator('[data-field="state"]')).to_have_text("acknowledged")
    stored = coord.api(f"alerts/{alert_id}")
    assert stored["state"] == "acknowledged" and stored["acknowledged_by"] == "dashboard"
    assert [e["kind"] for e in stored["history"]][-1] == "acknowledged"
    expect(row.locator('button[data-action="ack"]')).to_have_count(0)


def test_models_and_rollouts_show_as_the_registry_holds_them(
    procs: ProcGroup, mosquitto: MosquittoProcess, tmp_path: Path, watched: Watched
) -> None:
    from edgewatch.coordinator.store import SqliteStore
    from edgewatch.coordinator.store.model_records import Rollout, RolloutEvent
    from edgewatch.shared.signing import SignKey
    from tests.support.models import new_model

    coord, _agents = start_fleet(procs, mosquitto, tmp_path)
    page = watched.page
    sign_in(page, coord)
    expect(page.locator("#rollouts-empty")).to_be_visible()
    # Another writer of the same store (as a replica running the model duty would be).
    store = SqliteStore(coord.db)
    try:
        model = store.add_model(new_model(SignKey.generate(), "industrial", 3))
        rollout = Rollout(
            id=0, model_id=model.id, sensor_type="industrial", tier=model.tier, state="canary",
            canary_spec="pi-1", canary=("pi-1",), shadow=False, baseline_model_id=None,
            started_at=time.time(),
        )  # fmt: skip
        started = store.commit_rollout(
            rollout, {model.id: "canary"}, [RolloutEvent(0, time.time(), "started", "canary pi-1")]
        )
    finally:
        store.close()
    row = page.locator(f'#rollouts tr[data-rollout="{started.id}"]')
    expect(row).to_contain_text("industrial@3")
    expect(row).to_contain_text("pi-1")

    # The coordinator's model duty takes it on (its gate may well roll it back: the model
    # was signed with a key the agents do not trust); the page shows what the API says.
    def agree() -> bool:
        shown = row.locator('[data-field="state"]').inner_text()
        return bool(shown == coord.api(f"rollouts/{started.id}")["state"])

    wait_until(agree, 15, message="the page and the API disagree on the rollout")
    page.click("#models-title ~ details summary")
    expect(page.locator("#models tbody tr").first).to_contain_text("industrial")
