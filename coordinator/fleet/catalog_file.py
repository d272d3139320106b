"""Sensor files for ``edgewatch sensors import FILE``: CSV or TOML, into catalog records.

CSV, one sensor per row, header required::

    sensor_id,sensor_type,latitude,longitude,required_tier,topic,rate_hz
    pump-7,pump,52.52,13.40,low,site/sensors/pump-7,1

TOML, one table per sensor::

    [[sensor]]
    sensor_id = "pump-7"
    sensor_type = "pump"
    latitude = 52.52
    longitude = 13.40
    required_tier = "low"
    source = { kind = "site", topic = "site/sensors/pump-7", rate_hz = 1.0 }

A CSV row's source is a site topic (``topic``, default ``site/sensors/<sensor_id>``);
TOML may give any source, ``simulated`` included. Every sensor is validated as the API
validates it; the first bad one stops the import with its line or index and the reason.
"""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgewatch.shared.desired import SensorSource
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.schemas import AgentId, SensorId, SensorType


class SensorEntry(BaseModel):
    """One sensor as a file (and ``POST /api/v1/sensors``) gives it."""

    model_config = ConfigDict(extra="forbid")

    sensor_id: SensorId
    sensor_type: SensorType
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    required_tier: str = Field(default="low", pattern="^(low|medium|high)$")
    source: SensorSource
    pinned_to: AgentId | None = None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg', '')}"


def _csv_rows(text: str, path: Path) -> list[SensorEntry]:
    reader = csv.DictReader(io.StringIO(text))
    out = []
    for line, row in enumerate(reader, start=2):
        clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        sid = clean.get("sensor_id", "")
        entry: dict[str, Any] = {
            "sensor_id": sid,
            "sensor_type": clean.get("sensor_type", ""),
            "required_tier": clean.get("required_tier") or "low",
            "source": {
                "kind": "site",
                "topic": clean.get("topic") or f"site/sensors/{sid}",
                **({"rate_hz": float(clean["rate_hz"])} if clean.get("rate_hz") else {}),
            },
        }
        for key in ("latitude", "longitude"):
            if clean.get(key):
                entry[key] = float(clean[key])
        if clean.get("pinned_to"):
            entry["pinned_to"] = clean["pinned_to"]
        try:
            out.append(SensorEntry.model_validate(entry))
        except ValidationError as exc:
            raise ConfigError(f"{path}:{line}: {_first_error(exc)}") from exc
    return out


def read_sensor_file(path: Path) -> list[SensorEntry]:
    """The sensors in ``path`` (``.csv`` or ``.toml``); raises ``ConfigError``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        if path.suffix.lower() == ".toml":
            tables = tomllib.loads(text).get("sensor", [])
            entries = []
            for i, table in enumerate(tables):
                try:
                    entries.append(SensorEntry.model_validate(table))
                except ValidationError as exc:
                    raise ConfigError(f"{path}: sensor #{i + 1}: {_first_error(exc)}") from exc
            return entries
        return _csv_rows(text, path)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{path}: {exc}") from exc
