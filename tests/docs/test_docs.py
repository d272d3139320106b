"""Every Markdown file of the project: small, never repeating itself, and true to the code.

Each test collects every problem before it asserts, so one run lists every stale line as
``file:line: command: problem``. The truth is the program: ``edgewatch``'s own argparse
parsers, the Makefile's targets, and the files and modules on disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.commands import Checker, doc_commands, flag_spans, make_targets, python_blocks
from tests.docs.grammar import edgewatch_grammar
from tests.docs.markdown import Document, find_documents
from tests.docs.references import DOTTED, REPO_PATH, SourceTree
from tests.docs.repetition import repetition_problems

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 64 * 1024
DOCS = find_documents(ROOT)


@pytest.fixture(scope="module")
def tree() -> SourceTree:
    return SourceTree(ROOT)


@pytest.fixture(scope="module")
def checker(tree: SourceTree) -> Checker:
    targets = make_targets((ROOT / "Makefile").read_text(encoding="utf-8"))
    return Checker(edgewatch_grammar(), tree, targets)


def _report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(problems)


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 100 else flat[:97] + "..."


def test_the_docs_are_found() -> None:
    names = {doc.name for doc in DOCS}
    assert {"README.md", "CHANGELOG.md", "deploy/README.md", "docs/BENCHMARKS.md"} <= names
    assert not any(name.startswith(("tests/", ".venv/", "build/")) for name in names)


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.name)
def test_no_doc_is_over_64_kib(doc: Document) -> None:
    size = len(doc.text.encode("utf-8"))
    assert size <= MAX_BYTES, f"{doc.name}: {size:,} bytes (at most {MAX_BYTES:,})"


def test_no_doc_repeats_itself() -> None:
    problems = [
        f"{doc.name}:{line}: {problem}"
        for doc in DOCS
        for line, problem in repetition_problems(doc.text)
    ]
    assert not problems, _report(problems)


def test_every_command_names_a_real_verb_and_real_flags(checker: Checker) -> None:
    problems = []
    for doc in DOCS:
        for span in doc_commands(doc):
            for problem in checker.command(span.text):
                problems.append(f"{doc.name}:{span.line}: {_short(span.text)}: {problem}")
        for span in flag_spans(doc):
            for problem in checker.flags(span.text):
                problems.append(f"{doc.name}:{span.line}: {span.text}: {problem}")
    assert not problems, _report(problems)


def test_python_in_the_docs_imports_what_exists(checker: Checker) -> None:
    problems = []
    for doc in DOCS:
        for block in python_blocks(doc):
            for line, problem in checker.python(block.text)[1]:
                problems.append(f"{doc.name}:{block.line + line - 1}: {problem}")
    assert not problems, _report(problems)


def test_every_local_link_resolves() -> None:
    by_name = {doc.name: doc for doc in DOCS}
    problems = []
    for doc in DOCS:
        here = (ROOT / doc.name).parent
        for span in doc.links():
            target = span.text
            if not target or "://" in target or target.startswith(("mailto:", "tel:")):
                continue
            path, _, anchor = target.partition("#")
            file = (here / path).resolve() if path else ROOT / doc.name
            if not file.exists():
                problems.append(f"{doc.name}:{span.line}: link to a missing file: {target}")
                continue
            name = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else ""
            linked = by_name.get(name)
            if anchor and linked is not None and anchor not in linked.anchors:
                problems.append(f"{doc.name}:{span.line}: no heading #{anchor} in {name}")
    assert not problems, _report(problems)


def test_every_repo_path_and_module_named_in_the_docs_exists(tree: SourceTree) -> None:
    problems = []
    for doc in DOCS:
        for span in doc.inline_code():
            if REPO_PATH.fullmatch(span.text):
                problem = tree.path_problem(span.text)
            elif m := DOTTED.fullmatch(span.text):
                problem = tree.dotted_problem(m.group(1))
            else:
                continue
            if problem:
                problems.append(f"{doc.name}:{span.line}: `{span.text}`: {problem}")
    assert not problems, _report(problems)
