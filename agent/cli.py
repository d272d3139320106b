"""``edgewatch agent``: run one edge agent until Ctrl-C / SIGTERM (or drained, if asked)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from edgewatch.agent.settings import AgentSettings
from edgewatch.shared.errors import EdgewatchError
from edgewatch.shared.settings import add_settings_arguments, load_settings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser, AgentSettings)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(AgentSettings, args, section="agent")
    except EdgewatchError as exc:
        print(f"edgewatch agent: {exc}")
        return 2
    return run_agent(settings)


def run_agent(settings: AgentSettings) -> int:
    # Imported here so `--help` stays instant.
    from edgewatch.agent.metrics import serve_metrics
    from edgewatch.agent.runner import Agent
    from edgewatch.agent.scorers.factory import build_scorer
    from edgewatch.agent.sources import open_source

    try:
        agent = Agent(settings, build_scorer(settings), lambda start: open_source(settings, start))
    except EdgewatchError as exc:
        log.error("cannot start agent: %s", exc)
        return 2
    if settings.metrics_port is not None:
        serve_metrics(agent, settings.metrics_port)
    _on_signals(agent.stop)
    log.info(
        "agent %s: source=%s broker=%s outbox=%s epoch=%d (resuming at reading %d)",
        settings.id,
        settings.source,
        agent.uplink.link.address.url(),
        agent.outbox.path,
        agent.outbox.epoch,
        agent.outbox.position,
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
