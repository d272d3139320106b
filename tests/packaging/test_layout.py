"""The distribution installs the three folders under one ``edgewatch`` namespace.

pyproject.toml lists the packages by hand (setuptools cannot discover packages through a
``package-dir`` mapping), so a new sub-package that is not listed would be missing from
a built wheel while the editable install still finds it. This catches that.
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from tests.support.procs import REPO_ROOT

FOLDERS = ("agent", "coordinator", "shared")


def _pyproject() -> dict[str, object]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _on_disk() -> set[str]:
    found = set()
    for folder in FOLDERS:
        for init in (REPO_ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO_ROOT)
            found.add("edgewatch." + ".".join(rel.parts))
    return found


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]  # type: ignore[index]
    listed = set(setuptools["packages"])
    assert listed == _on_disk()
    assert setuptools["package-dir"] == {f"edgewatch.{f}": f for f in FOLDERS}


def test_the_namespace_resolves_to_this_checkout() -> None:
    for folder in FOLDERS:
        module = importlib.import_module(f"edgewatch.{folder}")
        assert Path(module.__file__ or "").parent == REPO_ROOT / folder


def test_no_top_level_package_of_ours_is_importable() -> None:
    # The old layout installed `agent`, `coordinator`, `shared` at top level, where they
    # collide with anyone else's. Nothing may depend on those names any more.
    for path in REPO_ROOT.glob("*/**/*.py"):
        if path.parts[len(REPO_ROOT.parts)] not in (*FOLDERS, "tests"):
            continue
        text = path.read_text(encoding="utf-8")
        for name in FOLDERS:
            assert f"\nfrom {name}." not in text and f"\nimport {name}." not in text, path
