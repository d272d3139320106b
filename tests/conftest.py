"""Fixtures for the whole suite: brokers, the fault proxy and spawned processes.

mosquitto          a fresh real Mosquitto on a free port (killed at teardown)
mosquitto_factory  make(config=MosquittoConfig(...)) -> started MosquittoProcess
embedded_broker    coordinator.broker.EmbeddedBroker on a free port
broker             parametrised over both: .kind, .url, .host, .port (.mosquitto)
fault_proxy        make(target_host, target_port) -> started FaultProxy
procs              ProcGroup: .edgewatch("agent", ..., name="a1") -> Proc; logs of
                   every process are appended to the report of a failed test
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

# The package is not installed in development: make `import edgewatch.agent, coordinator, shared`
# (and `tests.support`) resolve to this checkout, before anything else on sys.path.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edgewatch.coordinator.broker.embedded import EmbeddedBroker  # noqa: E402
from tests.support.faultproxy import FaultProxy, ProxyFactory  # noqa: E402
from tests.support.mosquitto import (  # noqa: E402
    BrokerUnderTest,
    MosquittoConfig,
    MosquittoFactory,
    MosquittoMissing,
    MosquittoProcess,
    find_mosquitto,
)
from tests.support.procs import ProcGroup  # noqa: E402

_PROCS = pytest.StashKey[ProcGroup]()


@pytest.fixture(scope="session")
def mosquitto_binary() -> Path:
    """The broker binary; a missing one FAILS the test (CI installs it, never skip)."""
    try:
        return find_mosquitto()
    except MosquittoMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def mosquitto_factory(
    tmp_path_factory: pytest.TempPathFactory, mosquitto_binary: Path
) -> Iterator[MosquittoFactory]:
    """``make(config=None, port=None)``: start a Mosquitto with its own dir and config."""
    started: list[MosquittoProcess] = []

    def make(config: MosquittoConfig | None = None, port: int | None = None) -> MosquittoProcess:
        workdir = tmp_path_factory.mktemp("mosquitto")
        broker = MosquittoProcess(workdir, config, port=port, binary=mosquitto_binary)
        started.append(broker)
        broker.start()
        return broker

    yield make
    for broker in started:
        broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> MosquittoProcess:
    """A real Mosquitto with default settings (anonymous, no persistence)."""
    return mosquitto_factory()


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """The amqtt broker the coordinator embeds (MQTT 3.1.1 only), on a free port."""
    broker = EmbeddedBroker(port=0)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(
    params=["embedded", pytest.param("mosquitto", marks=pytest.mark.mosquitto)],
    ids=["embedded", "mosquitto"],
)
def broker(request: pytest.FixtureRequest) -> BrokerUnderTest:
    """Either broker behind one face, so an integration test runs on both."""
    if request.param == "embedded":
        embedded: EmbeddedBroker = request.getfixturevalue("embedded_broker")
        return BrokerUnderTest("embedded", embedded.host, embedded.port)
    real: MosquittoProcess = request.getfixturevalue("mosquitto")
    return BrokerUnderTest("mosquitto", real.host, real.port, mosquitto=real)


@pytest.fixture
def fault_proxy() -> Iterator[ProxyFactory]:
    """``make(target_host, target_port)``: a started ``FaultProxy``, stopped at teardown."""
    proxies: list[FaultProxy] = []

    def make(target_host: str, target_port: int) -> FaultProxy:
        proxy = FaultProxy(target_host, target_port).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture
def procs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProcGroup]:
    """Spawned edgewatch processes: all killed at teardown, logs shown on failure."""
    group = ProcGroup(tmp_path / "logs")
    request.node.stash[_PROCS] = group
    yield group
    group.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # The processes are still running here (fixture teardown comes later), so their
    # logs are complete up to the moment of failure.
    group = item.stash.get(_PROCS, None)
    if report.failed and group is not None and group.procs:
        report.sections.append(("edgewatch process logs (last 50 lines each)", group.report()))
    return report
