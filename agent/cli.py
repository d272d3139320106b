"""``edgewatch agent``: run one edge agent until Ctrl-C / SIGTERM (or drained, if asked).

Mistakes at start (a bad flag, a read-only ``--data-dir``, the metrics port taken) end
in one ``edgewatch agent: ...`` line on stderr: exit 2 for settings, 1 for the machine.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from edgewatch.agent.settings import AgentSettings
from edgewatch.shared.cli import EXIT_USAGE, fail
from edgewatch.shared.errors import EdgewatchError
from edgewatch.shared.settings import add_settings_arguments, check_writable_dir, load_settings

log = logging.getLogger(__name__)
VERB = "agent"
EXIT_START = 1  # the settings were fine; this machine could not start with them


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser, AgentSettings)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(AgentSettings, args, section="agent")
    except EdgewatchError as exc:
        return fail(VERB, exc)
    try:
        check_writable_dir(settings.data_dir, "--data-dir")
    except EdgewatchError as exc:
        return fail(VERB, exc, EXIT_START)
    return run_agent(settings)


def run_agent(settings: AgentSettings) -> int:
    # Imported here so `--help` stays instant.
    from edgewatch.agent.runner import Agent
    from edgewatch.agent.scorers.factory import build_scorer
    from edgewatch.agent.sources import open_source

    try:
        agent = Agent(settings, build_scorer(settings), lambda start: open_source(settings, start))
    except EdgewatchError as exc:
        return fail(VERB, f"cannot start: {exc}", EXIT_USAGE)
    if settings.metrics_port is not None:
        # Only then: prometheus_client costs ~1.6 MB of a small box's memory.
        from edgewatch.agent.metrics import serve_metrics

        try:
            serve_metrics(agent, settings.metrics_port, settings.metrics_host)
        except EdgewatchError as exc:
            agent.outbox.close()
            return fail(VERB, exc, EXIT_START)
    _on_signals(agent.stop)
    metrics = (
        f" metrics=http://{settings.metrics_host}:{settings.metrics_port}/metrics"
        if settings.metrics_port is not None
        else ""
    )
    log.info(
        "agent %s: source=%s broker=%s outbox=%s epoch=%d (resuming at reading %d)%s",
        settings.id,
        settings.source,
        agent.uplink.link.address.url(),  # never the password (BrokerAddress.url)
        agent.outbox.path,
        agent.outbox.epoch,
        agent.outbox.position,
        metrics,
    )
    return agent.run()


def _on_signals(stop: Callable[[], None]) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
