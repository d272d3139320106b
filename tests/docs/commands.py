"""Commands in the docs: where they are, which program they run, and what is wrong.

A command is ours when it runs ``edgewatch`` (``.venv/bin/edgewatch``, any ``*/edgewatch``),
``python -m edgewatch...``, Python that imports our packages, or ``make`` (whose
``ARGS`` go to ``edgewatch demo``: the Makefile says which verb each target passes them
to). Leading ``NAME=value`` assignments and ``sudo``/``env``/``exec`` are looked through.
"""

from __future__ import annotations

import ast
import re
import shlex
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from tests.docs.grammar import Arity, Grammar, is_flag
from tests.docs.markdown import Document, Span
from tests.docs.references import OUR_FOLDERS, SourceTree
from tests.docs.shell import logical_lines, simple_commands

SHELL_BLOCKS = frozenset({"", "sh", "bash", "shell", "zsh", "console"})
PYTHON_BLOCKS = frozenset({"python", "py", "python3"})
RELEVANT = re.compile(r"\b(?:edgewatch|python3?|make)\b")
PYTHON = re.compile(r"python(?:3(?:\.\d+)?)?")
ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=.*", re.DOTALL)
WRAPPERS = frozenset({"sudo", "env", "exec", "nohup", "time"})
WRAPPER_VALUES = frozenset({"-u", "-g"})  # sudo -u USER
CLI_MODULE = "edgewatch.shared.cli"
PACKAGES = ", ".join(f"edgewatch.{f}" for f in OUR_FOLDERS)


def doc_commands(doc: Document) -> Iterator[Span]:
    """Logical lines of shell blocks, and inline code, that may run one of our programs."""
    for block in doc.code_blocks:
        if block.info in SHELL_BLOCKS:
            lines = _console(block.lines) if block.info == "console" else block.lines
            for span in logical_lines(lines, block.first_line):
                if RELEVANT.search(span.text):
                    yield span
    for span in doc.inline_code():
        if RELEVANT.search(span.text):
            yield span


def python_blocks(doc: Document) -> Iterator[Span]:
    for block in doc.code_blocks:
        if block.info in PYTHON_BLOCKS:
            yield Span(block.first_line, "\n".join(block.lines))


def flag_spans(doc: Document) -> Iterator[Span]:
    """Inline code that is flags alone (``--rate 0``), as prose uses for options."""
    for span in doc.inline_code():
        if span.text.startswith("--"):
            yield span


def _console(lines: Sequence[str]) -> list[str]:
    """A console session's commands: ``$ `` lines and their continuations; output blanked."""
    out = []
    going_on = False
    for line in lines:
        if line.startswith("$ ") or going_on:
            out.append(line.removeprefix("$ "))
            going_on = line.endswith("\\")
        else:
            out.append("")
    return out


def make_targets(makefile: str) -> dict[str, tuple[str, ...] | None]:
    """Target -> the ``edgewatch`` words its recipe puts before ``$(ARGS)``, or None."""
    targets: dict[str, tuple[str, ...] | None] = {}
    current: list[str] = []
    for line in makefile.splitlines():
        if line.startswith("\t"):
            m = re.search(r"edgewatch\s+(.*?)\$\(ARGS\)", line)
            if m:
                targets.update(dict.fromkeys(current, tuple(shlex.split(m.group(1)))))
            continue
        m = re.match(r"([A-Za-z0-9_.\- ]+?)\s*:(?!=)", line)
        current = [t for t in m.group(1).split() if not t.startswith(".")] if m else []
        for target in current:
            targets.setdefault(target, None)
    return targets


@dataclass(frozen=True)
class Checker:
    grammar: Grammar  # edgewatch's
    tree: SourceTree
    targets: dict[str, tuple[str, ...] | None]  # the Makefile's

    def command(self, text: str) -> list[str]:
        """Problems of every simple command of one logical line."""
        return [p for words in simple_commands(text) for p in self.words(words)]

    def words(self, words: Sequence[str]) -> list[str]:
        env, words = _environment(words)
        if not words:
            return []
        prog, args = words[0], list(words[1:])
        if prog == "edgewatch" or prog.endswith("/edgewatch"):
            ours, problems = bool(args), self.grammar.check(args)
        elif PYTHON.fullmatch(prog.rsplit("/", 1)[-1]):
            ours, problems = self._python(args)
        elif prog == "make":
            ours, problems = True, self._make(args)
        else:
            return []
        if ours and "PYTHONPATH" in env:
            problems.insert(0, "PYTHONPATH is not needed: make installs edgewatch (editable)")
        return problems

    def flags(self, text: str) -> list[str]:
        """Problems of a flags-only span: each flag must belong to some verb."""
        known = self.grammar.all_flags()
        try:
            words = shlex.split(text.replace("|", " "))
        except ValueError:
            return []
        return [
            f"{w.split('=')[0]} is no flag of any edgewatch verb"
            for w in words
            if is_flag(w) and w.split("=")[0] not in known
        ]

    def python(self, code: str) -> tuple[bool, list[tuple[int, str]]]:
        """``(imports ours, [(line in code, problem)])`` for a piece of Python."""
        try:
            tree = ast.parse(textwrap.dedent(code))
        except SyntaxError as exc:
            return True, [(exc.lineno or 1, f"Python that does not parse: {exc.msg}")]
        ours = False
        problems = []
        for node in ast.walk(tree):
            imports: list[tuple[str, tuple[str, ...]]]
            if isinstance(node, ast.Import):
                imports = [(a.name, ()) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imports = [(node.module, tuple(a.name for a in node.names))]
            else:
                continue
            for module, names in imports:
                top = module.split(".")[0]
                ours = ours or top in (*OUR_FOLDERS, "edgewatch")
                for problem in self._import(module, names):
                    problems.append((node.lineno, problem))
        return ours, problems

    def _import(self, module: str, names: Sequence[str]) -> list[str]:
        top = module.split(".")[0]
        if top in OUR_FOLDERS:
            return [f"import {module}: {self._no_module(module)}"]
        if top != "edgewatch":
            return []
        if not self.tree.is_module(module):
            return [f"import {module}: no such module"]
        have = self.tree.names(module)
        return [f"{module} has no {n!r}" for n in names if n != "*" and n not in have]

    def _no_module(self, module: str) -> str:
        hint = f"edgewatch.{module}"
        did_you_mean = f", did you mean {hint}?" if self.tree.is_module(hint) else ""
        return f"no such module (the packages are {PACKAGES}){did_you_mean}"

    def _python(self, args: list[str]) -> tuple[bool, list[str]]:
        for i, arg in enumerate(args):
            if arg == "-m" and i + 1 < len(args):
                return True, self._module(args[i + 1], args[i + 2 :])
            if arg == "-c" and i + 1 < len(args):
                ours, problems = self.python(args[i + 1])
                return ours, [p for _, p in problems]
            if not arg.startswith("-"):
                break  # a script: not ours to check
        return False, []

    def _module(self, module: str, args: list[str]) -> list[str]:
        top = module.split(".")[0]
        if module == CLI_MODULE:
            return self.grammar.check(args)
        if top in OUR_FOLDERS:
            return [f"python -m {module}: {self._no_module(module)}"]
        if top != "edgewatch":
            return []
        if not self.tree.is_module(module):
            return [f"python -m {module}: no such module"]
        if not self.tree.runnable(module):
            return [f"python -m {module}: the module has no __main__ block"]
        # Its parser is built inside main(): the flags it spells out are the best truth.
        options: dict[str, Arity] = dict.fromkeys({*self.tree.literal_flags(module), "-h"}, "?")
        where = f"python -m {module}"
        return Grammar(module, MappingProxyType(options), strict=False, where=where).check(args)

    def _make(self, args: list[str]) -> list[str]:
        variables = dict(a.split("=", 1) for a in args if ASSIGNMENT.fullmatch(a))
        problems = []
        for target in (a for a in args if not a.startswith("-") and not ASSIGNMENT.fullmatch(a)):
            if target not in self.targets:
                problems.append(f"make {target}: no such target in the Makefile")
                continue
            prefix = self.targets[target]
            if prefix is not None and "ARGS" in variables:
                problems += self.grammar.check([*prefix, *shlex.split(variables["ARGS"])])
        return problems


def _environment(words: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Leading assignments (and those of ``env``), with ``sudo``-like wrappers dropped."""
    env: dict[str, str] = {}
    rest = list(words)
    while rest and (ASSIGNMENT.fullmatch(rest[0]) or rest[0] in WRAPPERS):
        word = rest.pop(0)
        while word in WRAPPERS and rest and rest[0].startswith("-"):
            if rest.pop(0) in WRAPPER_VALUES and rest:
                rest.pop(0)
        if word in WRAPPERS:
            continue
        name, value = word.split("=", 1)
        env[name] = value
    return env, rest
