"""Webhooks: POSTed per severity with retry and backoff, bounded; a webhook that fails
or hangs never blocks the engine (``notify`` returns at once, drops are counted)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from edgewatch.coordinator.alerts.records import Alert, AlertEvent, Transition
from edgewatch.coordinator.alerts.webhooks import WebhookNotifier
from tests.support.procs import wait_until


class Hook:
    def __init__(self, fail_first: int = 0, hang_s: float = 0.0) -> None:
        self.fail_first, self.hang_s = fail_first, hang_s
        self.bodies: list[dict[str, object]] = []
        self.attempts = 0


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.attempts += 1
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.hang_s:
                time.sleep(state.hang_s)
            if state.attempts <= state.fail_first:
                self.send_response(503)
                self.end_headers()
                return
            state.bodies.append(orjson.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """Quiet: the test server's access log would only be noise in the output."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def transition(severity: str = "critical", silenced: bool = False) -> Transition:
    alert = Alert(
        id=7, key="low_battery/agent:pi-1", rule="low_battery", scope="agent:pi-1",
        severity=severity, state="open", value=12.0, message="low", raised_at=1.0,
        updated_at=1.0, sources=("cloud",), silenced=silenced,
    )  # fmt: skip
    return Transition(alert, AlertEvent(3, 7, 1.0, "raised", "rule", 12.0, ""))


def test_a_failing_webhook_is_retried_with_backoff_then_delivered(hook: tuple[Hook, str]) -> None:
    state, url = hook
    state.fail_first = 2
    notifier = WebhookNotifier({"critical": url}, retries=3, backoff_s=0.05)
    notifier.start()
    try:
        notifier.notify([transition(), transition("warning"), transition(silenced=True)])
        wait_until(lambda: notifier.counters.sent == 1, 10, message="never delivered")
    finally:
        notifier.stop()
    assert state.attempts == 3 and notifier.counters.failed_attempts == 2
    body = state.bodies[0]
    assert body["event"]["kind"] == "raised" and body["alert"]["key"] == "low_battery/agent:pi-1"  # type: ignore[index]


def test_retries_are_bounded_and_giving_up_is_counted(hook: tuple[Hook, str]) -> None:
    state, url = hook
    state.fail_first = 100
    notifier = WebhookNotifier({"critical": url}, retries=2, backoff_s=0.01)
    notifier.start()
    try:
        notifier.notify([transition()])
        wait_until(lambda: notifier.counters.given_up == 1, 10, message="never gave up")
    finally:
        notifier.stop()
    assert state.attempts == 3 and notifier.counters.sent == 0


def test_a_hanging_webhook_never_blocks_notify_and_a_full_queue_drops(
    hook: tuple[Hook, str],
) -> None:
    state, url = hook
    state.hang_s = 1.0
    notifier = WebhookNotifier({"critical": url}, timeout_s=0.2, retries=0, queue_size=5)
    notifier.start()
    try:
        started = time.monotonic()
        notifier.notify([transition()] * 50)
        assert time.monotonic() - started < 0.1  # the engine's thread was not held up
        assert notifier.counters.dropped_full >= 40
        wait_until(lambda: notifier.counters.given_up >= 1, 10, message="the hang never timed out")
    finally:
        notifier.stop(timeout=1)
