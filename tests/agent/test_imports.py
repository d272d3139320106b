"""The agent stays lean: no scikit-learn, pandas, FastAPI or amqtt in its process."""

from __future__ import annotations

import subprocess
import sys

from tests.support.procs import child_env

FORBIDDEN = ("sklearn", "pandas", "fastapi", "starlette", "amqtt", "skl2onnx", "uvicorn")


def _imported_by(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
        timeout=60,
    ).stdout.split()
    return {_top(name) for name in out}


def _top(module: str) -> str:
    """``sklearn.tree`` -> ``sklearn``; ours keep their room: ``edgewatch.agent.x`` ->
    ``edgewatch.agent``, so the coordinator's modules are told apart from the agent's."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "edgewatch" else parts[0]


def test_agent_modules_import_nothing_heavy() -> None:
    loaded = _imported_by(
        "import edgewatch.agent.cli, edgewatch.agent.runner, edgewatch.agent.sources\n"
        "import edgewatch.agent.scorers.factory, edgewatch.agent.metrics\n"
        "from edgewatch.agent.settings import AgentSettings\n"
        "from edgewatch.agent.scorers.factory import build_scorer\n"
        "build_scorer(AgentSettings())"
    )
    assert "numpy" in loaded and "paho" in loaded  # the check sees real imports
    assert not loaded & set(FORBIDDEN)
    # A rules-only agent (no model yet, or the low tier) does not pay for onnxruntime.
    assert "onnxruntime" not in loaded


def test_edgewatch_agent_verb_imports_only_the_agent_side() -> None:
    # `edgewatch agent --help` builds the parser through shared.cli: it must not pull in
    # the coordinator's modules for the other verbs.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "edgewatch.shared.cli", "agent", "--help"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--outbox-max-rows" in result.stdout
    imported = {
        _top(line.split("|")[-1].strip())
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "edgewatch.agent" in imported
    assert not imported & {*FORBIDDEN, "edgewatch.coordinator"}
