"""``edgewatch coordinator``: ingest, store and REST API in one process (uvicorn).

Every flag has an ``EDGEWATCH_*`` variable and a ``[coordinator]`` key in ``--config``.
SIGTERM and Ctrl-C stop it cleanly: uvicorn ends the lifespan, which commits and acks
what ingest has queued, then disconnects from the broker.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

import uvicorn

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.settings import add_settings_arguments, load_settings

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "URL is embedded, embedded:PORT or mqtt://[user:pass@]host:port. Without "
        "--api-token a random token is written to <db dir>/api-token (mode 0600)."
    )
    add_settings_arguments(parser, CoordinatorSettings)


def _stopped_by_signal(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal that stopped it once it has shut down; landing here
    # instead of the default handler makes a clean SIGTERM stop exit with status 0.
    log.info("coordinator stopped by signal %d", signum)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(CoordinatorSettings, args, section="coordinator")
        app = create_app(settings)
    except ConfigError as exc:
        print(f"edgewatch coordinator: {exc}", file=sys.stderr)
        return 2
    token_note = "configured" if settings.api_token else f"in {settings.token_path}"
    print(
        f"edgewatch coordinator: API http://{settings.host}:{settings.port}/api/v1 "
        f"(OpenAPI /docs, token {token_note}), broker {settings.broker}, db {settings.db}",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stopped_by_signal)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    server.run()
    # A lifespan that failed to start (broker port taken, db unreadable) ends run() early.
    return 0 if server.started else 1
