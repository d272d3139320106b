"""The agent stays lean: no scikit-learn, pandas, FastAPI or amqtt in its process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    # A rules-only agent (no model yet, or the low tier) does not pay for onnxruntime,
    # nor for signature checks (cryptography).
    assert "onnxruntime" not in loaded and "cryptography" not in loaded


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


def test_an_agent_that_verifies_and_runs_pushed_models_stays_lean(tmp_path: Path) -> None:
    from edgewatch.shared.signing import SignKey
    from tests.support.models import model_bytes, sign

    key = SignKey.generate()
    data = model_bytes("medical", 3)
    signature = sign(key, "medical", 3, data)
    pushed = tmp_path / "models" / "pushed"
    pushed.mkdir(parents=True)
    (pushed / "medical@3.onnx").write_bytes(data)
    (pushed / "medical@3.sig").write_text(signature.model_dump_json())
    (pushed / "state.json").write_text('{"types": {"medical": {"current": 3, "previous": null}}}')
    (tmp_path / "pub.pem").write_text(key.public.pem)
    loaded = _imported_by(
        "from pathlib import Path\n"
        "from edgewatch.agent.models.keys import TrustedKeys\n"
        "from edgewatch.agent.models.manager import ModelManager\n"
        "from edgewatch.agent.scorers.factory import build_scorer\n"
        "from edgewatch.agent.settings import AgentSettings\n"
        "from edgewatch.shared.topics import Topics\n"
        "class Link:\n"
        "    def subscribe_model(self, topic): pass\n"
        "    def unsubscribe_model(self, topic): pass\n"
        f"d = Path({str(tmp_path)!r})\n"
        "scorer = build_scorer(AgentSettings())\n"
        "m = ModelManager(scorer, data_dir=d, keys=TrustedKeys.load(d / 'pub.pem', d),"
        " topics=Topics(), link=Link())\n"
        "m.start()\n"
        "assert scorer.models()['medical'].version == 3, scorer.models()"
    )
    assert {"onnxruntime", "cryptography"} <= loaded  # the check saw the model path run
    assert not loaded & set(FORBIDDEN) and "onnx" not in loaded
