from __future__ import annotations

from tests.docs.markdown import Span
from tests.docs.shell import is_synopsis, logical_lines, simple_commands


def test_continuations_and_open_quotes_join_into_one_line_numbered_by_its_first() -> None:
    lines = [
        "edgewatch bench pipeline \\",
        "  --json",
        'python -c "',
        "import x",
        '"',
        "make test",
    ]
    spans = list(logical_lines(lines, 10))
    assert [s.line for s in spans] == [10, 12, 15]
    assert spans[0] == Span(10, "edgewatch bench pipeline    --json")
    assert spans[1].text == 'python -c "\nimport x\n"'


def test_an_apostrophe_in_a_comment_opens_no_quote() -> None:
    spans = list(logical_lines(["make demo  # the agent's outbox", "make test"], 1))
    assert [s.text for s in spans] == ["make demo  # the agent's outbox", "make test"]


def test_operators_split_commands_and_assignments_stay_with_theirs() -> None:
    text = "cd x && EDGEWATCH_ID=a edgewatch agent --rate 0 | tee log; make test & wait"
    assert simple_commands(text) == [
        ["cd", "x"],
        ["EDGEWATCH_ID=a", "edgewatch", "agent", "--rate", "0"],
        ["tee", "log"],
        ["make", "test"],
        ["wait"],
    ]


def test_substitutions_are_commands_of_their_own_unless_single_quoted() -> None:
    text = "curl -H \"Bearer $(edgewatch demo --keep)\" `make check` '$(not run)'"
    assert simple_commands(text) == [
        ["edgewatch", "demo", "--keep"],
        ["make", "check"],
        ["curl", "-H", "Bearer SUBST", "SUBST", "$(not run)"],
    ]


def test_comments_go_but_a_hash_inside_a_word_or_quotes_stays() -> None:
    text = "mosquitto_sub -t 'edgewatch/#' -v http://h/x#frag  # all topics"
    assert simple_commands(text) == [
        ["mosquitto_sub", "-t", "edgewatch/#", "-v", "http://h/x#frag"]
    ]


def test_redirections_go_with_their_targets() -> None:
    assert simple_commands("edgewatch bench scoring --json > out.json 2>&1") == [
        ["edgewatch", "bench", "scoring", "--json"]
    ]


def test_a_synopsis_expands_its_alternatives_and_drops_brackets_and_ellipses() -> None:
    line = "edgewatch agent --source simulate|csv [--rate R] [--csv FILE ...]  # one agent"
    assert is_synopsis(line)
    assert simple_commands(line) == [
        ["edgewatch", "agent", "--source", "simulate", "--rate", "R", "--csv", "FILE"],
        ["edgewatch", "agent", "--source", "csv", "--rate", "R", "--csv", "FILE"],
    ]
    assert simple_commands("edgewatch bench   pipeline | scoring [--json]") == [
        ["edgewatch", "bench", "pipeline", "--json"],
        ["edgewatch", "bench", "scoring", "--json"],
    ]


def test_a_pipe_between_spaced_words_is_a_pipe_outside_a_synopsis() -> None:
    assert not is_synopsis("edgewatch bench scoring --json | jq .targets")
    assert simple_commands("edgewatch bench scoring --json | jq .targets") == [
        ["edgewatch", "bench", "scoring", "--json"],
        ["jq", ".targets"],
    ]


def test_an_angle_bracket_placeholder_is_a_word_not_a_redirection() -> None:
    assert simple_commands("edgewatch <verb> --help") == [["edgewatch", "VERB", "--help"]]


def test_an_unclosed_quote_yields_no_command() -> None:
    assert simple_commands('edgewatch agent --id "pi-7') == []
