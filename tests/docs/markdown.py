"""Just enough Markdown: fenced blocks, paragraphs, inline code, links and heading anchors.

Line numbers are 1-based, as an editor shows them, so a failure reads ``file:line``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})\s*([^\s`{]*)")
INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?", re.MULTILINE)
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
# Directories that hold no documentation of ours (tests keep fixtures in Markdown too).
SKIPPED_DIRS = frozenset({"build", "tests", "var", "node_modules"})


@dataclass(frozen=True)
class Span:
    """A piece of text and the line it starts on."""

    line: int
    text: str


@dataclass(frozen=True)
class CodeBlock:
    """A fenced block: ``info`` is its language (``sh``, ``python``, ``""`` when bare)."""

    info: str
    first_line: int  # line of the first content line
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Document:
    """One Markdown file; ``name`` is its path relative to the repository."""

    name: str
    text: str

    @classmethod
    def read(cls, path: Path, root: Path) -> Document:
        return cls(path.relative_to(root).as_posix(), path.read_text(encoding="utf-8"))

    @cached_property
    def lines(self) -> tuple[str, ...]:
        return tuple(self.text.splitlines())

    @cached_property
    def _layout(self) -> tuple[tuple[CodeBlock, ...], tuple[str, ...]]:
        """The fenced blocks, and the lines with every fenced line blanked (the prose)."""
        blocks: list[CodeBlock] = []
        prose = list(self.lines)
        fence: tuple[str, str, int] | None = None  # marker, info, index of the fence line
        for i, line in enumerate(self.lines):
            m = FENCE.match(line)
            if fence is None and m:
                fence = (m.group(1), m.group(2).lower(), i)
                prose[i] = ""
            elif fence is not None:
                prose[i] = ""
                marker, info, start = fence
                if line.strip().startswith(marker) and not line.strip().strip(marker[0]):
                    blocks.append(CodeBlock(info, start + 2, self.lines[start + 1 : i]))
                    fence = None
        return tuple(blocks), tuple(prose)

    @property
    def code_blocks(self) -> tuple[CodeBlock, ...]:
        return self._layout[0]

    def prose_paragraphs(self) -> Iterator[Span]:
        """Blocks of prose separated by blank lines, lines kept (``\\n``-joined)."""
        yield from paragraphs(self._layout[1])

    def inline_code(self) -> Iterator[Span]:
        """Every inline code span of the prose, on one line, table pipes unescaped."""
        for para in self.prose_paragraphs():
            for m in INLINE_CODE.finditer(para.text):
                line = para.line + para.text.count("\n", 0, m.start())
                text = m.group(2).replace("\n", " ").replace("\\|", "|").strip()
                if text:
                    yield Span(line, text)

    def links(self) -> Iterator[Span]:
        """Targets of inline links, images and reference definitions in the prose."""
        for para in self.prose_paragraphs():
            # Blank out code spans (same length, same newlines) so `[x](y)` in code is no link.
            text = INLINE_CODE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), para.text)
            for pattern in (LINK, REFERENCE):
                for m in pattern.finditer(text):
                    line = para.line + text.count("\n", 0, m.start())
                    yield Span(line, m.group(1))

    @cached_property
    def anchors(self) -> frozenset[str]:
        """GitHub's heading ids: lower case, punctuation dropped, spaces to ``-``, dedup ``-n``."""
        seen: dict[str, int] = {}
        out = set()
        for line in self._layout[1]:
            m = HEADING.match(line)
            if not m:
                continue
            slug = slugify(m.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
        return frozenset(out)


def slugify(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def paragraphs(lines: tuple[str, ...] | list[str]) -> Iterator[Span]:
    """Runs of non-blank lines; ``Span.line`` is the first line of each run."""
    start: int | None = None
    for i, line in enumerate([*lines, ""]):
        if line.strip() and start is None:
            start = i
        elif not line.strip() and start is not None:
            yield Span(start + 1, "\n".join(lines[start:i]))
            start = None


def find_documents(root: Path) -> list[Document]:
    """Every ``*.md`` of the project: hidden folders, build output and tests left out."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skipped(d))
        for name in sorted(files):
            if name.endswith(".md"):
                found.append(Document.read(Path(folder) / name, root))
    return found


def _skipped(folder: str) -> bool:
    return folder.startswith(".") or folder in SKIPPED_DIRS or folder.endswith(".egg-info")
