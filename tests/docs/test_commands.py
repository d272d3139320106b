from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.commands import Checker, doc_commands, flag_spans, make_targets, python_blocks
from tests.docs.grammar import edgewatch_grammar
from tests.docs.markdown import Document, Span
from tests.docs.references import SourceTree

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = """\
.PHONY: demo test
TYPECHECK := build/typecheck
demo: $(RUN_STAMP)
\t$(BIN)/edgewatch demo $(ARGS)

test check: $(DEV_STAMP)
\t$(BIN)/python -m pytest -q $(PYTEST_ARGS)
"""


@pytest.fixture(scope="module")
def checker() -> Checker:
    # agent and demo build in well under a second; bench and eval need scikit-learn.
    return Checker(edgewatch_grammar(("agent", "demo")), SourceTree(ROOT), make_targets(MAKEFILE))


def test_make_targets_know_which_verb_gets_args() -> None:
    assert make_targets(MAKEFILE) == {"demo": ("demo",), "test": None, "check": None}


def test_the_real_makefile_passes_args_to_demo() -> None:
    targets = make_targets((ROOT / "Makefile").read_text(encoding="utf-8"))
    assert targets["demo"] == ("demo",)
    assert {"test", "check", "bench"} <= targets.keys()


def test_good_lines_pass(checker: Checker) -> None:
    for line in (
        "EDGEWATCH_ID=pi-7 .venv/bin/edgewatch agent --rate 0 --count 10 --exit-when-drained",
        "python -m edgewatch.shared.cli demo --duration 60",
        'make demo ARGS="--duration 60"',
        "sudo -u edgewatch /opt/edgewatch/venv/bin/edgewatch agent --help",
        "python -m edgewatch.coordinator.bench.ingest --batches 400 --batch-size 500",
        "python3 -m venv .venv && .venv/bin/python -m pytest -q",
        "pip install edgewatch",
    ):
        assert checker.command(line) == [], line


def test_stale_lines_fail_with_every_problem(checker: Checker) -> None:
    assert checker.command("PYTHONPATH=. .venv/bin/python -m shared.cli agent --nope") == [
        "PYTHONPATH is not needed: make installs edgewatch (editable)",
        "python -m shared.cli: no such module (the packages are edgewatch.agent, "
        "edgewatch.coordinator, edgewatch.shared), did you mean edgewatch.shared.cli?",
    ]
    assert checker.command("edgewatch agent --id a --nope 1 && edgewatch demo --keep --x") == [
        "unknown flag --nope for verb agent",
        "unknown flag --x for verb demo",
    ]
    assert checker.command('make demo ARGS="--minutes 1"') == [
        "unknown flag --minutes for verb demo"
    ]
    assert checker.command("make nonesuch") == ["make nonesuch: no such target in the Makefile"]
    assert checker.command("python -m edgewatch.coordinator.bench.ingest --batchs 4") == [
        "unknown flag --batchs for python -m edgewatch.coordinator.bench.ingest"
    ]
    assert checker.command("python -m edgewatch.coordinator.ingest_bench") == [
        "python -m edgewatch.coordinator.ingest_bench: no such module"
    ]
    assert checker.command("python -m edgewatch.shared.features") == [
        "python -m edgewatch.shared.features: the module has no __main__ block"
    ]


def test_python_imports_are_resolved_without_importing(checker: Checker) -> None:
    code = (
        "import json\n"
        "from edgewatch.agent.sources.simulator import Simulator, Nope\n"
        "from agent.outbox import Outbox\n"
    )
    assert checker.python(code) == (
        True,
        [
            (2, "edgewatch.agent.sources.simulator has no 'Nope'"),
            (
                3,
                "import agent.outbox: no such module (the packages are edgewatch.agent, "
                "edgewatch.coordinator, edgewatch.shared), did you mean edgewatch.agent.outbox?",
            ),
        ],
    )
    assert checker.python("import json") == (False, [])
    assert checker.python("def (") == (True, [(1, "Python that does not parse: invalid syntax")])
    assert checker.command("python -c 'from edgewatch.shared.cli import VERBS, build_parser'") == []


def test_flag_spans_are_checked_against_every_verb(checker: Checker) -> None:
    assert checker.flags("--rate 0") == []
    assert checker.flags("--count N --exit-when-drained") == []
    assert checker.flags("--duration 60 --rates 5") == ["--rates is no flag of any edgewatch verb"]


def test_commands_come_from_shell_blocks_console_prompts_and_inline_code() -> None:
    doc = Document(
        "x.md",
        "Run `edgewatch demo` or `--rate 0`.\n"
        "\n"
        "```sh\n"
        "make demo   # first\n"
        "```\n"
        "\n"
        "```console\n"
        "$ edgewatch agent \\\n"
        "    --help\n"
        "edgewatch agent: output, not a command\n"
        "```\n"
        "\n"
        "```json\n"
        '{"edgewatch": "demo"}\n'
        "```\n"
        "\n"
        "```python\n"
        "import edgewatch\n"
        "```\n",
    )
    assert list(doc_commands(doc)) == [
        Span(4, "make demo   # first"),
        Span(8, "edgewatch agent      --help"),
        Span(1, "edgewatch demo"),
    ]
    assert list(flag_spans(doc)) == [Span(1, "--rate 0")]
    assert list(python_blocks(doc)) == [Span(18, "import edgewatch")]
