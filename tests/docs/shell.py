"""Doc text to simple commands, the way a reader's shell (or eye, for a synopsis) sees it.

A *shell* line is split at ``|``, ``||``, ``&&``, ``;``, ``&`` and parentheses, with
comments and redirections dropped; each ``$(...)`` or backtick substitution becomes a
command of its own. A *synopsis* line (one with ``[--optional]`` groups, ``...`` or
``a|b``) is a pattern, not a pipeline: brackets and ellipses go, and ``a | b`` or
``a|b`` are alternatives, expanded into one command each::

    >>> simple_commands("edgewatch bench pipeline | scoring [--json]")
    [['edgewatch', 'bench', 'pipeline', '--json'], ['edgewatch', 'bench', 'scoring', '--json']]
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator, Sequence

from tests.docs.markdown import Span

OPERATORS = frozenset({"|", "||", "&&", ";", ";;", "&", "|&", "(", ")"})
REDIRECT = re.compile(r"^[<>&]*[<>][<>&]*$")
SYNOPSIS = re.compile(r"\[-|\.\.\.|\w\|\w")
PLACEHOLDER = re.compile(r"(?<!\S)<([A-Za-z][\w-]*)>(?!\S)")
SUBSTITUTED = "SUBST"  # stands in for the output of $(...)
MAX_JOINED = 100  # lines one command may span (continuations, multi-line quotes)
MAX_EXPANDED = 256  # commands one synopsis may expand to


def _scan(text: str) -> tuple[str, list[str], bool]:
    """``(text without comments or substitutions, the substituted commands, quote left open)``."""
    out: list[str] = []
    inner: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        elif c == "$" and text.startswith("$(", i) and not text.startswith("$((", i):
            end = _closing(text, i + 2)
            inner.append(text[i + 2 : end])
            out.append(SUBSTITUTED)
            i = end + 1
            continue
        elif c == "`":
            end = text.find("`", i + 1)
            end = len(text) if end < 0 else end
            inner.append(text[i + 1 : end])
            out.append(SUBSTITUTED)
            i = end + 1
            continue
        elif quote == '"':
            quote = "" if c == '"' else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or text[i - 1].isspace()):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        out.append(c)
        i += 1
    return "".join(out), inner, bool(quote)


def _closing(text: str, start: int) -> int:
    """Index of the ``)`` that closes a ``$(`` whose content begins at ``start``."""
    depth = 1
    quote = ""
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(text)


def logical_lines(lines: Sequence[str], first_line: int) -> Iterator[Span]:
    """Lines of a code block, with ``\\`` continuations and multi-line quotes joined."""
    i = 0
    while i < len(lines):
        start = i
        text = lines[i]
        while i + 1 < len(lines) and i - start < MAX_JOINED:
            if text.endswith("\\"):
                text = text[:-1] + " " + lines[i + 1]
            elif _scan(text)[2]:
                text = text + "\n" + lines[i + 1]
            else:
                break
            i += 1
        yield Span(first_line + start, text)
        i += 1


def is_synopsis(text: str) -> bool:
    return bool(SYNOPSIS.search(_scan(text)[0]))


def _tokens(text: str) -> list[str] | None:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:  # an unclosed quote: not a command a reader could run
        return None


def _segments(tokens: list[str], synopsis: bool) -> Iterator[list[str]]:
    segment: list[str] = []
    skip_next = False
    for tok in tokens:
        if skip_next:
            skip_next = False
        elif REDIRECT.match(tok):
            if segment and segment[-1].isdigit() and len(segment[-1]) == 1:
                segment.pop()  # the fd of 2>&1
            skip_next = True
        elif tok in OPERATORS and not (synopsis and tok == "|"):
            yield segment
            segment = []
        else:
            segment.append(tok)
    yield segment


def _expand(tokens: list[str]) -> list[list[str]]:
    """A synopsis's tokens to the commands it stands for."""
    slots: list[list[str]] = []
    alternative = False
    for tok in tokens:
        if tok == "|":
            alternative = True
            continue
        word = tok.strip("[]").removesuffix("...").rstrip("]")
        if not word:
            continue
        if alternative and slots:
            slots[-1].append(word)
        else:
            slots.append([word])
        alternative = False
    return [list(c) for c in itertools.islice(itertools.product(*slots), MAX_EXPANDED)]


def simple_commands(text: str) -> list[list[str]]:
    """Every simple command in ``text`` (one logical line) as a list of words."""
    # `<verb>` is a placeholder in docs, not two redirections: make it `VERB`.
    text = PLACEHOLDER.sub(lambda m: m.group(1).upper().replace("-", "_"), text)
    outer, inner, _ = _scan(text)
    commands = [c for sub in inner for c in simple_commands(sub)]
    synopsis = bool(SYNOPSIS.search(outer))
    tokens = _tokens(outer)
    if tokens is None:
        return commands
    for segment in _segments(tokens, synopsis):
        if segment:
            commands.extend(_expand(segment) if synopsis else [segment])
    return commands
