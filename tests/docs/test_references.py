from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.references import DOTTED, REPO_PATH, SourceTree

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree() -> SourceTree:
    return SourceTree(ROOT)


def test_modules_map_to_their_folders(tree: SourceTree) -> None:
    assert tree.module_path("edgewatch.shared.cli") == ROOT / "shared" / "cli.py"
    assert tree.module_path("edgewatch.agent.sources") == ROOT / "agent/sources/__init__.py"
    assert tree.module_path("edgewatch.agent") == ROOT / "agent" / "__init__.py"
    assert tree.module_path("edgewatch.agent.scorers.onnx") is None
    assert tree.module_path("shared.cli") is None  # not installed under that name


def test_names_are_read_from_the_source(tree: SourceTree) -> None:
    assert {"VERBS", "build_parser", "main", "argparse"} <= tree.names("edgewatch.shared.cli")
    # A package: what its __init__ defines or imports, and its submodules.
    assert {"open_source", "Simulator", "simulator", "base"} <= tree.names(
        "edgewatch.agent.sources"
    )
    assert tree.names("edgewatch") == {"agent", "coordinator", "shared"}


def test_runnable_modules_and_their_literal_flags(tree: SourceTree) -> None:
    assert tree.runnable("edgewatch.coordinator.bench.ingest")
    assert not tree.runnable("edgewatch.shared.features")
    assert {"--batches", "--batch-size", "--window"} <= tree.literal_flags(
        "edgewatch.coordinator.bench.ingest"
    )


def test_paths_globs_and_braces(tree: SourceTree) -> None:
    assert tree.path_problem("shared/codec.py") is None
    assert tree.path_problem("deploy/mosquitto/") is None
    assert tree.path_problem("tests/fault/test_*.py") is None
    assert tree.path_problem("coordinator/{ingest,fleet}/") is None
    assert tree.path_problem("docs/topics.md#ack-ack") is None
    assert (
        tree.path_problem("tests/test_fault_*.py")
        == "no such file or folder: tests/test_fault_*.py"
    )
    assert tree.path_problem("coordinator/{ingest,training}/") == (
        "no such file or folder: coordinator/training/"
    )


def test_dotted_names(tree: SourceTree) -> None:
    assert tree.dotted_problem("agent.sources.open_source") is None
    assert tree.dotted_problem("edgewatch.shared.schemas.Result") is None
    assert tree.dotted_problem("shared.schemas.Nope") == "edgewatch.shared.schemas has no 'Nope'"
    assert (
        tree.dotted_problem("coordinator.training.trainer")
        == "edgewatch.coordinator has no 'training'"
    )


def test_what_counts_as_a_path_or_a_module_name() -> None:
    assert REPO_PATH.fullmatch("tests/support/ledger.py")
    assert not REPO_PATH.fullmatch("edgewatch/agents/+/status")  # a topic
    assert not REPO_PATH.fullmatch("<db dir>/api-token")
    m = DOTTED.fullmatch("agent.sources.open_source(settings, start=0)")
    assert m and m.group(1) == "agent.sources.open_source"
    assert not DOTTED.fullmatch("edgewatch.meta")  # a metadata key
