"""Webhooks per severity: a POST of each transition, retried with backoff, bounded.

The engine only enqueues (``notify``, never blocks): a full queue drops the notification
and counts it. One worker thread POSTs with a timeout and retries failures after 1, 2,
4 ... s (``retries`` times), then gives up and counts that too. A webhook that fails or
hangs therefore costs the engine and ingest nothing. The URL is never logged (it often
holds a token): only its host.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from edgewatch.coordinator.alerts.payloads import transition_out
from edgewatch.coordinator.alerts.records import Severity, Transition

log = logging.getLogger(__name__)


@dataclass
class WebhookCounters:
    sent: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    dropped_full: int = 0


class WebhookNotifier:
    def __init__(
        self,
        urls: Mapping[str, str] | Mapping[Severity, str],
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        queue_size: int = 1000,
    ) -> None:
        self._urls: dict[str, str] = {str(k): v for k, v in urls.items()}
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters = WebhookCounters()

    @property
    def configured(self) -> bool:
        return bool(self._urls)

    def start(self) -> None:
        if self._urls and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def notify(self, done: Sequence[Transition]) -> None:
        for t in done:
            url = self._urls.get(t.alert.severity)
            if url is None or t.alert.silenced:
                continue
            body = transition_out(t).model_dump_json().encode()
            try:
                self._queue.put_nowait((url, body))
            except queue.Full:
                self.counters.dropped_full += 1
                log.warning("webhook queue full: a %s notification was dropped", t.alert.severity)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is None:
                return
            self._deliver(*item)

    def _deliver(self, url: str, body: bytes) -> None:
        host = urlsplit(url).hostname or "?"
        for attempt in range(self._retries + 1):
            if attempt and self._stop.wait(self._backoff_s * 2 ** (attempt - 1)):
                return
            req = urllib.request.Request(
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=self._timeout_s) as resp:
                    resp.read(1024)
                self.counters.sent += 1
                return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                self.counters.failed_attempts += 1
                why = getattr(exc, "code", None) or type(exc).__name__
                log.warning("webhook to %s failed (attempt %d: %s)", host, attempt + 1, why)
        self.counters.given_up += 1
        log.error("webhook to %s: gave up after %d attempts", host, self._retries + 1)
