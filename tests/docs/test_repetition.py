from __future__ import annotations

from tests.docs.repetition import repeated_lines, repeated_paragraphs, repetition_problems

NOTES = """\
- The issue's two descriptions of the case disagree: 50 sensors x 100 readings/s for
  10 minutes is 3,000,000 readings, not 300,000. Both are measured above.
- Size the bound as rate x longest outage to ride out: at 5,000 readings/s a 10-minute
  outage is 3,000,000 readings (~540 MB of outbox)."""
TARGETS = """\
Targets of issue 3: a 300,000-reading backlog drained in 30 s or less with live
readings never more than 2 s behind. Notes:"""
ORIGINAL = "# Benchmarks\n\nEvery figure here comes from a command in this repository.\n"


def test_distinct_prose_passes() -> None:
    text = f"# Title\n\n{TARGETS}\n\n{NOTES}\n\n```sh\nmake bench\n```\n"
    assert repetition_problems(text) == []


def test_a_paragraph_given_twice_is_reported_once_where_it_comes_back() -> None:
    text = f"{TARGETS}\n\n{NOTES}\n\nIn between.\n\n{NOTES}\n"
    [(line, problem)] = repeated_paragraphs(text)
    assert line == 11
    assert problem.startswith("paragraph repeated 2x (first at line 4): - The issue's")


def test_short_blocks_may_repeat() -> None:
    text = "```sh\nmake demo\n```\n\n|---|---|\n\n```sh\nmake demo\n```\n\n|---|---|\n"
    assert repetition_problems(text) == []


def test_the_shape_of_the_destroyed_benchmarks_file_fails() -> None:
    # As the runaway script wrote it: the last paragraphs again and again, each copy led
    # by one character of the original file, so the first paragraph never matches exactly.
    unit = f"{TARGETS}\n\n{NOTES}\n\n"
    copies = ORIGINAL * 5
    text = "".join(ch + unit for ch in copies)
    problems = repetition_problems(text)
    repeated = f"paragraph repeated {len(copies)}x (first at line 4): - The issue's two"
    assert any(p.startswith(repeated) for _, p in problems)
    assert any("line occurs" in p and "readings never more than 2 s" in p for _, p in problems)
    # One report per repeated text, not one per copy.
    assert len(problems) < len(copies) // 4


def test_one_paragraph_interleaved_with_single_characters_fails() -> None:
    text = "\n".join(f"{TARGETS}\n{ch}" for ch in "interleaved")
    problems = repeated_lines(text)
    assert [line for line, _ in problems] == [1, 2]
    assert "occurs 11x" in problems[0][1]


def test_a_line_repeated_in_a_row_fails_however_short() -> None:
    assert repeated_lines("a\n" + "x\n" * 4 + "b\n") == []
    [(line, problem)] = repeated_lines("a\n" + "x\n" * 9 + "b\n")
    assert (line, problem) == (2, "line repeated 9x in a row: x")


def test_blank_lines_in_a_row_are_fine() -> None:
    assert repeated_lines("a" + "\n" * 20 + "b") == []
