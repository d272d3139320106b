"""The attack suite's site, and the tally of attacks tried and refused.

Each attack test carries ``@pytest.mark.attack("what is tried")``; it passes only if the
attack was refused (and, where the coordinator could have stored something, nothing was
stored). The terminal summary says ``attacks refused: N/M`` (docs/BENCHMARKS.md quotes
it).

``under_attack`` is one secure site for the whole suite: ``site init`` on a free port, its
Mosquitto (dynamic security, TLS only), a coordinator started with its bundle, and two
enrolled agents streaming readings through it, so every attack happens while the
legitimate path works.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

import pytest

from edgewatch.shared.bundle import Bundle
from tests.support.procs import ProcGroup
from tests.support.secure_site import SecureSite

_TALLY = {"tried": 0, "refused": 0}
_FAILED: list[str] = []
_SITE = pytest.StashKey[ProcGroup]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "attack(name): an attack the product must refuse")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    marker = item.get_closest_marker("attack")
    if marker is not None and report.when == "call":
        _TALLY["tried"] += 1
        if report.passed:
            _TALLY["refused"] += 1
        else:
            _FAILED.append(str(marker.args[0]))
    group = item.session.stash.get(_SITE, None)
    if report.failed and group is not None:
        report.sections.append(("secure site logs (last 40 lines each)", group.report(40)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _TALLY["tried"]:
        terminalreporter.write_line(f"attacks refused: {_TALLY['refused']}/{_TALLY['tried']}")
        for name in _FAILED:
            terminalreporter.write_line(f"  NOT refused: {name}")


@dataclass
class UnderAttack:
    site: SecureSite
    a: Bundle  # enrolled agents, streaming
    b: Bundle
    thief: Bundle  # an enrolled agent whose bundle the attacker stole (raw client)
    operator: Bundle
    sensor: Bundle


@pytest.fixture(scope="session")
def under_attack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UnderAttack]:
    root = tmp_path_factory.mktemp("secure-site")
    group = ProcGroup(root / "logs")
    request.session.stash[_SITE] = group
    try:
        site = SecureSite(root / "site", group).start_broker()
        # Small enough that the oversized-payload attack on the coordinator stays small.
        site.start_coordinator("--max-payload-bytes", "65536", "--auth-fail-limit", "1000")
        a, b = site.enroll("pi-a", tier="low"), site.enroll("pi-b")
        thief = site.enroll("pi-thief")
        operator, sensor = site.enroll("ops", role="operator"), site.enroll("s-1", role="sensor")
        for bundle in (a, b):
            group.edgewatch(
                "agent",
                "--bundle",
                str(site.bundle_path(bundle.identity)),
                "--data-dir",
                str(root / bundle.identity),
                "--sensors",
                "4",
                "--rate",
                "40",
                name=bundle.identity,
            )
        site.wait_stored("agent_id = ?", "pi-a")
        site.wait_stored("agent_id = ?", "pi-b")
        yield UnderAttack(site, a, b, thief, operator, sensor)
    finally:
        group.close()
