"""Progress of a long command (train, eval, bench, replay, aggregates rebuild) on stderr.

On a terminal, one line redrawn in place: a bar, done/total, the rate and the time left.
Elsewhere (a log, CI, a pipe), a plain line every ``every_s`` seconds and one at the end,
so logs stay readable. With ``--json`` the command passes ``quiet=True``: nothing at all,
stdout stays one JSON object and stderr stays empty.

>>> import io
>>> out = io.StringIO()
>>> with Progress("files", total=3, stream=out, tty=False, every_s=0) as p:
...     p.advance(3, "valve1/0.csv")
>>> print(out.getvalue().strip().splitlines()[-1])
files: 3/3 (100%) done in 0 s
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from edgewatch.shared.clock import SYSTEM, Clock

BAR = 24
REDRAW_S = 0.1
# What long-running code reports through: (done, total, note); ``Progress.update`` is one.
Step = Callable[[int, int, str], None]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        quiet: bool = False,
        stream: TextIO | None = None,
        tty: bool | None = None,
        every_s: float = 5.0,
        clock: Clock = SYSTEM,
    ) -> None:
        self.label = label
        self.total = total
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every_s = every_s
        self.clock = clock
        self.done = 0
        self.note = ""
        self._started = clock.monotonic()
        self._shown = float("-inf")
        self._closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(failed=kind is not None)

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if note:
            self.note = note
        now = self.clock.monotonic()
        if now - self._shown >= (REDRAW_S if self.tty else self.every_s):
            self._shown = now
            self._show(final=False)

    def update(self, done: int, total: int, note: str = "") -> None:
        """Absolute progress: ``done`` of ``total`` (a ``Step``)."""
        self.total = total
        self.advance(done - self.done, note)

    def close(self, *, failed: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if failed and not self.done:
            # Nothing was done: the command's own error is the one line to read.
            if self.tty and not self.quiet:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
            return
        self._show(final=True, failed=failed)

    def _line(self, final: bool, failed: bool) -> str:
        elapsed = self.clock.monotonic() - self._started
        if self.total:
            share = min(1.0, self.done / self.total)
            head = f"{self.label}: {self.done:,}/{self.total:,} ({share:.0%})"
        else:
            share, head = 0.0, f"{self.label}: {self.done:,}"
        if final:
            return f"{head} {'stopped after' if failed else 'done in'} {_duration(elapsed)}"
        rate = self.done / elapsed if elapsed > 0 else 0.0
        tail = f", {rate:,.1f}/s" if rate else ""
        if self.total and rate > 0 and self.done < self.total:
            tail += f", {_duration((self.total - self.done) / rate)} left"
        if self.tty and self.total:
            filled = round(BAR * share)
            head = (
                f"{self.label} [{'#' * filled}{'.' * (BAR - filled)}] {head[len(self.label) + 2 :]}"
            )
        note = f"  {self.note}" if self.note else ""
        return f"{head}{tail}{note}"

    def _show(self, *, final: bool, failed: bool = False) -> None:
        if self.quiet:
            return
        line = self._line(final, failed)
        if self.tty:
            end = "\n" if final else ""
            self.stream.write(f"\r\x1b[2K{line}{end}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
