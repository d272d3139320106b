"""shared.progress: a bar on a terminal, plain lines elsewhere, nothing when quiet."""

from __future__ import annotations

import doctest
import io

import pytest

from edgewatch.shared import progress
from edgewatch.shared.clock import ManualClock
from edgewatch.shared.progress import Progress


def test_plain_lines_come_at_most_every_period_and_once_at_the_end() -> None:
    out, clock = io.StringIO(), ManualClock()
    with Progress("rows", total=100, stream=out, tty=False, every_s=5.0, clock=clock) as p:
        for _ in range(10):
            clock.advance(1.0)
            p.advance(10, "file-a")
    lines = out.getvalue().splitlines()
    assert lines[0] == "rows: 10/100 (10%), 10.0/s, 9 s left  file-a"
    assert lines[1].startswith("rows: 60/100 (60%)")  # 5 s later, not before
    assert lines[-1] == "rows: 100/100 (100%) done in 10 s"
    assert len(lines) == 3 and "\r" not in out.getvalue()


def test_a_terminal_gets_one_redrawn_line_with_a_bar() -> None:
    out, clock = io.StringIO(), ManualClock()
    with Progress("train", total=4, stream=out, tty=True, clock=clock) as p:
        clock.advance(1.0)
        p.advance(1)
    text = out.getvalue()
    assert text.startswith("\r\x1b[2Ktrain [######..................] 1/4 (25%)")
    assert text.endswith("train: 1/4 (25%) done in 1 s\n") and text.count("\n") == 1


def test_quiet_writes_nothing_and_a_failure_says_stopped() -> None:
    out = io.StringIO()
    with Progress("x", total=3, stream=out, quiet=True) as p:
        p.advance(3)
    assert out.getvalue() == ""
    out2, clock = io.StringIO(), ManualClock()
    with pytest.raises(RuntimeError), Progress("x", stream=out2, tty=False, clock=clock) as p:
        p.advance(2)
        clock.advance(2.0)
        raise RuntimeError("boom")
    assert out2.getvalue().splitlines()[-1] == "x: 2 stopped after 2 s"
    out3 = io.StringIO()  # a failure before any progress: the command's error says it all
    with pytest.raises(RuntimeError), Progress("x", stream=out3, tty=False, every_s=0):
        raise RuntimeError("bad input")
    assert out3.getvalue() == ""


def test_the_docstring_example_holds() -> None:
    assert doctest.testmod(progress).failed == 0
