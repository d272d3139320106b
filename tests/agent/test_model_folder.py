"""agent.models.folder: files per version, one pointer, current and previous kept."""

from __future__ import annotations

from pathlib import Path

from edgewatch.agent.models.folder import ModelFolder
from edgewatch.shared.signing import SignKey
from tests.support.models import sign

KEY = SignKey.generate()


def put(folder: ModelFolder, version: int) -> None:
    data = f"model {version}".encode()
    folder.install(data, sign(KEY, "pump", version, data))


def test_current_and_previous_are_kept_older_files_go(tmp_path: Path) -> None:
    folder = ModelFolder(tmp_path)
    for v in (1, 2, 3):
        put(folder, v)
        folder.make_current("pump", v)
    assert {p.name for p in tmp_path.glob("*.onnx")} == {"pump@2.onnx", "pump@3.onnx"}
    assert folder.previous("pump") == 2
    again = ModelFolder(tmp_path)  # the pointer survives
    current = again.current()["pump"]
    assert current.version == 3 and current.signature is not None
    assert again.read(current)[0] == b"model 3"


def test_a_file_written_but_never_made_current_is_found_by_name(tmp_path: Path) -> None:
    folder = ModelFolder(tmp_path)
    put(folder, 1)
    folder.make_current("pump", 1)
    put(folder, 2)  # a crash here: the pointer still names 1
    again = ModelFolder(tmp_path)
    assert again.current()["pump"].version == 1
    found = again.find("pump", 2)
    assert found is not None and again.read(found)[0] == b"model 2"


def test_an_unreadable_pointer_means_fetch_again(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    assert ModelFolder(tmp_path).current() == {}
    folder = ModelFolder(tmp_path)
    put(folder, 4)
    folder.make_current("pump", 4)
    assert ModelFolder(tmp_path).current()["pump"].version == 4
