"""``edgewatch coordinator``: ingest, store and REST API in one process (uvicorn).

Every flag has an ``EDGEWATCH_*`` variable and a ``[coordinator]`` key in ``--config``.
SIGTERM and Ctrl-C stop it cleanly: uvicorn ends the lifespan, which commits and acks
what ingest has queued, then disconnects from the broker.

Mistakes an operator makes at start (a bad flag, the API or broker port taken, a
read-only database directory) end in one ``edgewatch coordinator: ...`` line on stderr
and a non-zero exit: 2 for settings, 1 for the machine.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import sys
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import ConfigError, EdgewatchError
from edgewatch.shared.redact import redact
from edgewatch.shared.settings import add_settings_arguments, check_writable_dir, load_settings

log = logging.getLogger(__name__)
VERB = "coordinator"
EXIT_START = 1  # the settings were fine; this machine could not start with them


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "URL is embedded, embedded:PORT or mqtt://[user@]host:port (the password: "
        "--broker-password-file). Without --api-token a random token is written to "
        "<db dir>/api-token (mode 0600) at the first start and reused after."
    )
    add_settings_arguments(parser, CoordinatorSettings)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(CoordinatorSettings, args, section="coordinator")
        if settings.alerts:
            from edgewatch.coordinator.alerts.rules import load_rules

            load_rules(settings.alert_rules)  # a bad rule file: one line, before anything
    except ConfigError as exc:
        return fail(VERB, exc)
    try:
        check_writable_dir(settings.db.parent, "--db", settings.db)
        listener = listen(settings.host, settings.port)
    except ConfigError as exc:
        return fail(VERB, exc, EXIT_START)
    with listener:
        try:
            app = _StartFailure(create_app(settings))
        except EdgewatchError as exc:
            return fail(VERB, exc, EXIT_START)
        port = listener.getsockname()[1]
        token_note = "configured" if settings.api_token else f"in {settings.token_path}"
        print(
            f"edgewatch coordinator: API http://{settings.host}:{port}/api/v1 "
            f"(OpenAPI /docs, token {token_note}), broker {redact(settings.broker)}, "
            f"db {settings.db}",
            flush=True,
        )
        return _serve(app, settings, listener)


def _serve(app: _StartFailure, settings: CoordinatorSettings, listener: socket.socket) -> int:
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)

    def stop(signum: int, frame: FrameType | None) -> None:
        # Before uvicorn takes the signals over (SIGTERM while starting), this stops it
        # once started; after, uvicorn re-raises the signal that stopped it, and landing
        # here instead of the default handler makes a clean stop exit with status 0.
        log.info("coordinator stopped by signal %d", signum)
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run(sockets=[listener])
    except SystemExit:
        # uvicorn exits when the lifespan failed to start; ours is reported below.
        if app.error is None:
            raise
    if app.error is not None:
        return fail(VERB, app.error, EXIT_START)
    return 0 if server.started else EXIT_START


def listen(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound before anything starts: a taken port is one line.

    Bound the way uvicorn binds its own (``SO_REUSEADDR``), and handed to it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"API port {port} on {host} is in use (another coordinator? use --port N)"
            ) from exc
        why = exc.strerror or str(exc)
        raise ConfigError(f"--host {host} --port {port}: cannot listen there: {why}") from exc
    sock.set_inheritable(True)
    return sock


class _StartFailure:
    """The app as uvicorn runs it, recording why its lifespan failed to start.

    A start that fails with one of our errors (the broker port taken, say) is told in one
    line by ``run()``; starlette would log its traceback, so that message is emptied.
    Any other failure keeps its traceback: it is a bug to report.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.error: EdgewatchError | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_quietly(message: Message) -> None:
            # Starlette sends "startup.failed" from inside its `except` block, with the
            # traceback as the message: the error in flight says whether it is ours.
            if message["type"] == "lifespan.startup.failed" and isinstance(
                sys.exc_info()[1], EdgewatchError
            ):
                message = {"type": message["type"], "message": ""}
            await send(message)

        try:
            await self.app(scope, receive, send_quietly)
        except EdgewatchError as exc:
            self.error = exc
