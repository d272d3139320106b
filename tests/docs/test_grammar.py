from __future__ import annotations

import argparse

import pytest

from tests.docs.grammar import Grammar, edgewatch_grammar, from_parser


@pytest.fixture(scope="module")
def tool() -> Grammar:
    """A small CLI shaped like edgewatch's: global flag, verbs, kinds, a choice positional."""
    top = argparse.ArgumentParser(prog="tool")
    top.add_argument("--log-level")
    verbs = top.add_subparsers(dest="verb", metavar="VERB")
    bench = verbs.add_parser("bench")
    kinds = bench.add_subparsers(dest="kind", metavar="KIND")
    pipeline = kinds.add_parser("pipeline")
    pipeline.add_argument("--json", action="store_true")
    pipeline.add_argument("--count", type=int)
    scoring = kinds.add_parser("scoring")
    scoring.add_argument("--trees", nargs="+")
    ev = verbs.add_parser("eval")
    ev.add_argument("dataset", choices=["skab"])
    ev.add_argument("path")
    ev.add_argument("--done", action=argparse.BooleanOptionalAction)
    return from_parser(top)


def test_a_correct_line_passes(tool: Grammar) -> None:
    assert tool.check(["--log-level", "DEBUG", "bench", "pipeline", "--json", "--count=5"]) == []
    assert tool.check(["bench", "scoring", "--trees", "50", "100", "-h"]) == []
    assert tool.check(["eval", "skab", "PATH", "--no-done"]) == []


def test_an_unknown_flag_names_the_verb_and_its_values_raise_nothing_else(tool: Grammar) -> None:
    assert tool.check(["bench", "pipeline", "--rate", "2000", "--json"]) == [
        "unknown flag --rate for verb bench pipeline"
    ]


def test_a_flag_of_another_kind_is_unknown(tool: Grammar) -> None:
    assert tool.check(["bench", "scoring", "--json"]) == [
        "unknown flag --json for verb bench scoring"
    ]


def test_a_global_flag_after_the_verb_is_unknown(tool: Grammar) -> None:
    assert tool.check(["bench", "pipeline", "--log-level", "DEBUG"]) == [
        "unknown flag --log-level for verb bench pipeline"
    ]


def test_unknown_verbs_kinds_and_choices(tool: Grammar) -> None:
    assert tool.check(["train", "--json"]) == ["unknown verb 'train' (one of: bench, eval)"]
    assert tool.check(["bench", "ingest"]) == [
        "unknown kind 'ingest' for verb bench (one of: pipeline, scoring)"
    ]
    assert tool.check(["eval", "nab", "x"]) == ["'nab' is no dataset of verb eval (one of: skab)"]


def test_a_stray_positional_is_unexpected(tool: Grammar) -> None:
    assert tool.check(["bench", "pipeline", "scoring"]) == [
        "unexpected argument 'scoring' for verb bench pipeline"
    ]


def test_a_placeholder_stands_for_any_kind_but_not_for_any_flag(tool: Grammar) -> None:
    assert tool.check(["bench", "KIND", "--json"]) == []
    assert tool.check(["bench", "KIND", "--trees", "5"]) == []
    assert tool.check(["bench", "KIND", "--nope"]) == ["unknown flag --nope for verb bench KIND"]
    assert tool.check(["eval", "DATASET", "PATH"]) == []


def test_the_real_agent_knows_its_flags_and_refuses_a_made_up_one() -> None:
    grammar = edgewatch_grammar(("agent",))
    good = ["agent", "--id", "pi-7", "--source", "csv", "--csv", "a.csv", "b.csv", "--rate", "0"]
    assert grammar.check(good) == []
    assert grammar.check(["agent", "--id", "pi-7", "--duration", "60"]) == [
        "unknown flag --duration for verb agent"
    ]
    assert grammar.check(["--log-level", "DEBUG", "agent", "--no-exit-when-drained"]) == []
    assert grammar.check(["agent", "--log-level", "DEBUG"]) == [
        "unknown flag --log-level for verb agent"
    ]
