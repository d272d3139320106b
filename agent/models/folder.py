"""The agent's store of pushed models: immutable files per version, one pointer file.

::

    DATA_DIR/models/pushed/industrial@1796154926.onnx   the file, as signed
    DATA_DIR/models/pushed/industrial@1796154926.sig    its ModelSignature (JSON)
    DATA_DIR/models/pushed/state.json                   per type: current and previous

Files are written atomically before they are used; ``state.json`` is replaced
atomically after a swap, so a crash anywhere leaves the previous state intact (a file
written but not yet current is found by name when it is ordered again). Per type the
current and the previous version are kept (the previous is what a rollback needs
without a download); older files are deleted when a new one becomes current.

Models an operator puts by hand into ``DATA_DIR/models/*.onnx`` are not touched here.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from edgewatch.shared.files import write_atomic
from edgewatch.shared.modelfile import MAX_FILE_BYTES
from edgewatch.shared.modelpack import ModelSignature

log = logging.getLogger(__name__)
STATE = "state.json"


@dataclass(frozen=True)
class StoredModel:
    sensor_type: str
    version: int
    path: Path
    signature: ModelSignature | None

    @property
    def sig_path(self) -> Path:
        return self.path.with_suffix(".sig")


class ModelFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._state: dict[str, dict[str, int | None]] = self._load()

    def _load(self) -> dict[str, dict[str, int | None]]:
        try:
            raw = json.loads((self.root / STATE).read_text(encoding="utf-8"))
            return {
                str(t): {"current": int(v["current"]), "previous": _opt_int(v.get("previous"))}
                for t, v in raw["types"].items()
            }
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error("unreadable %s (%s): pushed models are fetched again", self.root / STATE, exc)
            return {}

    def _path(self, sensor_type: str, version: int) -> Path:
        return self.root / f"{sensor_type}@{version}.onnx"

    def current(self) -> dict[str, StoredModel]:
        """The current pushed model per type (files that vanished are left out)."""
        found = {}
        for sensor_type, entry in self._state.items():
            version = entry["current"]
            model = self.find(sensor_type, version) if version is not None else None
            if model is not None:
                found[sensor_type] = model
        return found

    def previous(self, sensor_type: str) -> int | None:
        entry = self._state.get(sensor_type)
        return None if entry is None else entry["previous"]

    def find(self, sensor_type: str, version: int) -> StoredModel | None:
        path = self._path(sensor_type, version)
        if not path.is_file():
            return None
        return StoredModel(sensor_type, version, path, _read_sig(path.with_suffix(".sig")))

    def read(self, model: StoredModel) -> tuple[bytes, str]:
        """The file's bytes and their sha256; raises ``OSError``."""
        if model.path.stat().st_size > MAX_FILE_BYTES:
            raise OSError(f"{model.path} is larger than {MAX_FILE_BYTES} bytes")
        data = model.path.read_bytes()
        return data, hashlib.sha256(data).hexdigest()

    def install(self, data: bytes, signature: ModelSignature) -> StoredModel:
        """Write a verified file and its signature (not yet current); raises ``OSError``."""
        path = self._path(signature.sensor_type, signature.version)
        write_atomic(path.with_suffix(".sig"), signature.model_dump_json().encode())
        write_atomic(path, data)
        return StoredModel(signature.sensor_type, signature.version, path, signature)

    def make_current(self, sensor_type: str, version: int) -> None:
        """``version`` runs now; the one before becomes previous, older files go."""
        entry = self._state.get(sensor_type)
        before = entry["current"] if entry else None
        previous = before if before != version else (entry or {}).get("previous")
        self._state[sensor_type] = {"current": version, "previous": previous}
        self._save()
        self._prune(sensor_type, {version, previous})

    def forget(self, sensor_type: str) -> None:
        """``sensor_type`` runs no pushed model any more (its files stay for a rollback)."""
        if self._state.pop(sensor_type, None) is not None:
            self._save()

    def _save(self) -> None:
        data = json.dumps({"types": self._state}, indent=1, sort_keys=True).encode()
        write_atomic(self.root / STATE, data)

    def _prune(self, sensor_type: str, keep: set[int | None]) -> None:
        for path in self.root.glob(f"{sensor_type}@*.onnx"):
            version = path.stem.partition("@")[2]
            if version.isdigit() and int(version) not in keep:
                path.unlink(missing_ok=True)
                path.with_suffix(".sig").unlink(missing_ok=True)


def _opt_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _read_sig(path: Path) -> ModelSignature | None:
    try:
        return ModelSignature.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None
