"""What ``edgewatch`` accepts, read from its own argparse parsers rather than written down.

``from_parser`` turns a parser (and its sub-parsers) into a ``Grammar``: the option
strings with how many values each takes, and the positional slots with their choices.
``Grammar.check(words)`` walks a command line the way argparse would and names every
flag, verb or choice that does not exist. Placeholders (``ID``, ``KIND``, ``<verb>``)
stand for any value, and at a sub-verb slot for any sub-verb.
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

Arity = int | str  # a count, or argparse's "?", "*", "+"
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*|<[^>]+>")
NUMBER = re.compile(r"-\d[\d.e]*")


@dataclass(frozen=True)
class Slot:
    """A positional: ``choices`` maps sub-verbs to grammars, lists values, or is None (any)."""

    name: str
    choices: Mapping[str, Grammar] | frozenset[str] | None
    many: bool = False


@dataclass(frozen=True)
class Grammar:
    prog: str  # the verb path: "agent", "bench pipeline"
    options: Mapping[str, Arity]
    slots: tuple[Slot, ...] = ()
    strict: bool = True  # False: positionals are not known, accept any
    where: str = ""  # how a message names it; default "verb <prog>"

    def __post_init__(self) -> None:
        if not self.where:
            object.__setattr__(self, "where", f"verb {self.prog}")

    def check(self, words: Sequence[str]) -> list[str]:
        """Every problem of ``words`` (the arguments after ``self.prog``)."""
        problems: list[str] = []
        slot = 0
        i = 0
        while i < len(words):
            word = words[i]
            if is_flag(word):
                flag, eq, _ = word.partition("=")
                arity = self.options.get(flag)
                if arity is None:
                    problems.append(f"unknown flag {flag} for {self.where}")
                    arity = "*"  # its values are unknown too: skip them, no cascade
                i += 1 if eq else 1 + _values(arity, words[i + 1 :])
                continue
            if slot >= len(self.slots):
                if self.strict:
                    problems.append(f"unexpected argument {word!r} for {self.where}")
                i += 1
                continue
            current = self.slots[slot]
            if isinstance(current.choices, Mapping):
                sub = self._sub(current, word, problems)
                return problems if sub is None else problems + sub.check(words[i + 1 :])
            if isinstance(current.choices, frozenset) and not _fits(word, current.choices):
                known = ", ".join(sorted(current.choices))
                problems.append(f"{word!r} is no {current.name} of {self.where} (one of: {known})")
            slot += 0 if current.many else 1
            i += 1
        return problems

    def _sub(self, slot: Slot, word: str, problems: list[str]) -> Grammar | None:
        assert isinstance(slot.choices, Mapping)
        if word in slot.choices:
            return slot.choices[word]
        if is_placeholder(word):
            return merged(slot.choices.values(), f"{self.prog} {word}".strip())
        known = ", ".join(slot.choices)
        where = f" for {self.where}" if self.prog else ""
        problems.append(f"unknown {slot.name.lower()} {word!r}{where} (one of: {known})")
        return None

    def all_flags(self) -> frozenset[str]:
        """Option strings of this grammar and of every sub-verb under it."""
        flags = set(self.options)
        for slot in self.slots:
            if isinstance(slot.choices, Mapping):
                for sub in slot.choices.values():
                    flags |= sub.all_flags()
        return frozenset(flags)


def is_flag(word: str) -> bool:
    return word.startswith("-") and len(word) > 1 and not NUMBER.fullmatch(word)


def is_placeholder(word: str) -> bool:
    return bool(PLACEHOLDER.fullmatch(word))


def _fits(word: str, choices: frozenset[str]) -> bool:
    return word in choices or is_placeholder(word)


def _values(arity: Arity, rest: Sequence[str]) -> int:
    """How many of ``rest`` argparse would take as the values of an option."""
    free = next((n for n, w in enumerate(rest) if is_flag(w)), len(rest))
    if arity == "?":
        return min(free, 1)
    if arity in ("*", "+"):
        return free
    return min(free, int(arity))


def merged(grammars: Iterable[Grammar], prog: str) -> Grammar:
    """Any of ``grammars``: a flag is known if one of them knows it; positionals unchecked."""
    options: dict[str, Arity] = {}
    for grammar in grammars:
        options.update(grammar.options)
    return Grammar(prog, MappingProxyType(options), (), strict=False)


def _arity(action: argparse.Action) -> Arity:
    if action.nargs is None:
        return 1
    return action.nargs if isinstance(action.nargs, int) else str(action.nargs)


def from_parser(parser: argparse.ArgumentParser, prog: str = "") -> Grammar:
    options: dict[str, Arity] = {}
    slots = []
    for action in parser._actions:
        if action.option_strings:
            options.update(dict.fromkeys(action.option_strings, _arity(action)))
        elif isinstance(action, argparse._SubParsersAction):
            subs = {
                name: from_parser(sub, f"{prog} {name}".strip())
                for name, sub in action.choices.items()
            }
            slots.append(Slot(str(action.metavar or action.dest), MappingProxyType(subs)))
        else:
            choices = None if action.choices is None else frozenset(action.choices)
            slots.append(
                Slot(str(action.metavar or action.dest), choices, action.nargs in ("*", "+"))
            )
    return Grammar(prog, MappingProxyType(options), tuple(slots))


@functools.cache
def edgewatch_grammar(verbs: tuple[str, ...] | None = None) -> Grammar:
    """The grammar of ``edgewatch`` with ``verbs`` (default: every verb) fully built.

    ``build_parser`` imports only the verb named in its argv, so each verb is built on
    its own; the heavy ones (bench, eval) import scikit-learn and onnx.
    """
    from edgewatch.shared.cli import VERBS, build_parser

    top = build_parser([])
    options = {s: _arity(a) for a in top._actions for s in a.option_strings}
    subs = {}
    for verb in VERBS if verbs is None else verbs:
        parser = build_parser([verb])
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        subs[verb] = from_parser(sub.choices[verb], verb)
    slot = Slot("verb", MappingProxyType(subs))
    return Grammar("", MappingProxyType(options), (slot,), where="edgewatch (before the verb)")
