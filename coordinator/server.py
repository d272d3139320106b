"""The coordinator's HTTP server in a background thread, for the demo and benchmarks.

``edgewatch coordinator`` runs uvicorn in the main thread; the demo needs the main
thread for its own loop (summaries, Ctrl-C), so it serves from here instead.
"""

from __future__ import annotations

import threading
import time

import uvicorn

from edgewatch.coordinator.api import create_app
from edgewatch.coordinator.settings import CoordinatorSettings


class ServerThread:
    def __init__(self, settings: CoordinatorSettings) -> None:
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host=settings.host, port=settings.port, log_config=None, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        # uvicorn only captures signals in the main thread: the demo keeps them.
        self.thread = threading.Thread(target=self.server.run, name="coordinator-http", daemon=True)

    @property
    def token(self) -> str:
        return str(self.app.state.api_token)

    def start(self, timeout: float = 30.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("coordinator HTTP server did not start")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def serve_in_thread(settings: CoordinatorSettings) -> ServerThread:
    return ServerThread(settings).start()
