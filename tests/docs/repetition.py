"""Repeated text: what a runaway script leaves behind, and a careful writer never does.

docs/BENCHMARKS.md was once overwritten with its last three paragraphs repeated 9,425
times, each copy led by one character of the original file. Exact paragraph matching
alone misses the copies whose first line carries that character, so lines are counted
too: a long line that comes back again and again, or any line repeated in a row.
"""

from __future__ import annotations

import re
from collections import Counter

from tests.docs.markdown import paragraphs

MIN_PARAGRAPH = 80  # shorter blocks (a fence, a table rule, "Notes:") may well repeat
MIN_LINE = 40  # a line at least this long ...
MAX_LINE_COUNT = 4  # ... may appear this often in one file
MAX_RUN = 4  # any non-blank line may repeat this often in a row
RULE = re.compile(r"^[\s|:+=~`*_-]*$")  # table separators, fences, horizontal rules


def _normal(text: str) -> str:
    return " ".join(text.split())


def _excerpt(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def repeated_paragraphs(text: str) -> list[tuple[int, str]]:
    """``(line, problem)`` for each paragraph seen before, reported once at its 2nd copy."""
    first: dict[str, int] = {}
    count: Counter[str] = Counter()
    second: dict[str, int] = {}
    for para in paragraphs(text.splitlines()):
        key = _normal(para.text)
        if len(key) <= MIN_PARAGRAPH:
            continue
        count[key] += 1
        first.setdefault(key, para.line)
        if count[key] == 2:
            second[key] = para.line
    return [
        (line, f"paragraph repeated {count[key]}x (first at line {first[key]}): {_excerpt(key)}")
        for key, line in second.items()
    ]


def repeated_lines(text: str) -> list[tuple[int, str]]:
    """Runs of one line, and long lines that recur more than ``MAX_LINE_COUNT`` times."""
    problems = []
    lines = [_normal(line) for line in text.splitlines()]
    run_start = 0
    for i in range(1, len(lines) + 1):
        if i < len(lines) and lines[i] == lines[run_start]:
            continue
        run = i - run_start
        if run > MAX_RUN and lines[run_start]:
            problems.append(
                (run_start + 1, f"line repeated {run}x in a row: {_excerpt(lines[run_start])}")
            )
        run_start = i
    count = Counter(line for line in lines if len(line) >= MIN_LINE and not RULE.match(line))
    reported = set()
    for i, line in enumerate(lines):
        if count[line] > MAX_LINE_COUNT and line not in reported:
            reported.add(line)
            problems.append((i + 1, f"line occurs {count[line]}x in the file: {_excerpt(line)}"))
    return problems


def repetition_problems(text: str) -> list[tuple[int, str]]:
    return sorted(repeated_paragraphs(text) + repeated_lines(text))
