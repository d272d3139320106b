"""Names of our files and modules in the docs, resolved on disk without importing anything.

The installed package maps folders to modules (``edgewatch.agent`` -> ``agent/``, per
``[tool.setuptools] package-dir`` in pyproject.toml); the docs may write a module with or
without the ``edgewatch.`` prefix in prose, but code (``import``, ``python -m``) must use
the installed name.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

# `agent/outbox.py`, `tests/fault/test_*.py`, `deploy/mosquitto/`, `docs/x.md#anchor`
REPO_PATH = re.compile(r"(?:\./)?(?:agent|coordinator|shared|tests|deploy|docs|\.ci)/[\w./*{},-]*")
# `agent.sources.open_source(settings, start=0)`, `edgewatch.shared.schemas.Result`
DOTTED = re.compile(r"((?:edgewatch\.)?(?:agent|coordinator|shared)(?:\.\w+)+)(?:\(.*\))?")
OUR_FOLDERS = ("agent", "coordinator", "shared")


class SourceTree:
    """Our packages as files: module -> path, module -> the names it defines."""

    def __init__(self, root: Path) -> None:
        self.root = root
        pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        self.package_dirs: dict[str, str] = pyproject["tool"]["setuptools"]["package-dir"]
        self._names: dict[str, frozenset[str]] = {}

    def module_path(self, module: str) -> Path | None:
        """The file (``x.py`` or ``x/__init__.py``) of an ``edgewatch.*`` module, if any."""
        for package, folder in self.package_dirs.items():
            if module != package and not module.startswith(package + "."):
                continue
            base = self.root / folder
            rest = [part for part in module[len(package) :].split(".") if part]
            if rest:
                base = base.joinpath(*rest)
                if base.with_suffix(".py").is_file():
                    return base.with_suffix(".py")
            init = base / "__init__.py"
            return init if init.is_file() else None
        return None

    def is_module(self, module: str) -> bool:
        return module == "edgewatch" or self.module_path(module) is not None

    def names(self, module: str) -> frozenset[str]:
        """Top-level names of a module (defs, classes, assignments, imports) and submodules."""
        if module not in self._names:
            self._names[module] = self._read_names(module)
        return self._names[module]

    def _read_names(self, module: str) -> frozenset[str]:
        if module == "edgewatch":
            return frozenset(p.removeprefix("edgewatch.") for p in self.package_dirs)
        path = self.module_path(module)
        if path is None:
            return frozenset()
        names = set(_defined(ast.parse(path.read_text(encoding="utf-8")).body))
        if path.name == "__init__.py":
            names |= {p.stem for p in path.parent.glob("*.py")} - {"__init__"}
            names |= {p.parent.name for p in path.parent.glob("*/__init__.py")}
        return frozenset(names)

    def runnable(self, module: str) -> bool:
        """``python -m module`` would run something: a ``__main__`` guard or ``__main__.py``."""
        path = self.module_path(module)
        if path is None:
            return False
        if path.name == "__init__.py":
            return (path.parent / "__main__.py").is_file()
        return "__main__" in path.read_text(encoding="utf-8")

    def literal_flags(self, module: str) -> frozenset[str]:
        """Every ``"--flag"`` string literal in a module: its options, if it uses argparse."""
        path = self.module_path(module)
        if path is None:
            return frozenset()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        return frozenset(
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"--?[A-Za-z][\w-]*", node.value)
        )

    def path_problem(self, text: str) -> str | None:
        """None if a repo path names something; globs, ``{a,b}`` and ``#anchor`` allowed."""
        path = text.split("#", 1)[0].removeprefix("./")
        missing = [p for p in _braces(path) if not self._exists(p)]
        return f"no such file or folder: {', '.join(missing)}" if missing else None

    def _exists(self, pattern: str) -> bool:
        if any(c in pattern for c in "*?["):
            return any(self.root.glob(pattern.rstrip("/")))
        return (self.root / pattern).exists()

    def dotted_problem(self, text: str) -> str | None:
        """None if ``pkg.module.Name`` (``edgewatch.`` prefix optional) resolves."""
        parts = text.removeprefix("edgewatch.").split(".")
        for n in range(len(parts), 0, -1):
            module = "edgewatch." + ".".join(parts[:n])
            if self.is_module(module):
                if n == len(parts) or parts[n] in self.names(module):
                    return None
                return f"{module} has no {parts[n]!r}"
        return f"no such module: {text}"


def _defined(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.If | ast.Try):
            names |= _defined(node.body + node.orelse + getattr(node, "finalbody", []))
            for handler in getattr(node, "handlers", []):
                names |= _defined(handler.body)
    return names


def _braces(text: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", text)
    if not m:
        return [text]
    return [
        expanded
        for choice in m.group(1).split(",")
        for expanded in _braces(text[: m.start()] + choice + text[m.end() :])
    ]
