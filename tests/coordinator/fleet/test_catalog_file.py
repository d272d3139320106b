"""Sensor files (CSV, TOML) and ``edgewatch sensors import`` against a real coordinator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgewatch.coordinator.broker.embedded import EmbeddedBroker
from edgewatch.coordinator.fleet.catalog_file import read_sensor_file
from edgewatch.shared.desired import SimulatedSource, SiteSource
from edgewatch.shared.errors import ConfigError
from tests.support.coordinator import make_settings, serve
from tests.support.procs import child_env

CSV = """sensor_id,sensor_type,latitude,longitude,required_tier,topic,rate_hz
pump-7,pump,52.52,13.40,low,plant/a/pump-7,1
fan-2,fan,,,medium,,2
"""
TOML = """
[[sensor]]
sensor_id = "sim-1"
sensor_type = "industrial"
source = { kind = "simulated", seed = 4, number = 1, rate_hz = 2.0, t0 = 1800000000.0 }
"""


def test_csv_rows_become_site_sensors(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(CSV)
    pump, fan = read_sensor_file(path)
    assert pump.source == SiteSource(topic="plant/a/pump-7", rate_hz=1.0)
    assert (pump.latitude, pump.longitude, pump.required_tier) == (52.52, 13.40, "low")
    assert fan.source == SiteSource(topic="site/sensors/fan-2", rate_hz=2.0)
    assert fan.latitude is None and fan.required_tier == "medium"


def test_toml_may_give_any_source(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TOML)
    (sim,) = read_sensor_file(path)
    assert isinstance(sim.source, SimulatedSource) and sim.source.number == 1


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("bad.csv", "sensor_id,sensor_type\nbad id,pump\n", "bad.csv:2: sensor_id"),
        (
            "bad.csv",
            "sensor_id,sensor_type,required_tier\np1,pump,huge\n",
            "bad.csv:2: required_tier",
        ),
        ("bad.toml", "[[sensor]]\nsensor_id = 'x'\n", "bad.toml: sensor #1"),
        ("bad.toml", "[[sensor\n", "bad.toml"),
    ],
)
def test_a_bad_sensor_says_where_and_why(tmp_path: Path, name: str, text: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        read_sensor_file(path)


def test_import_registers_with_a_running_coordinator(tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=0)
    broker.start()
    try:
        settings = make_settings(tmp_path, broker.url)
        gen = serve(settings)
        api = next(gen)
        try:
            path = tmp_path / "s.csv"
            path.write_text(CSV)
            env = {**child_env(), "EDGEWATCH_API_TOKEN": api.token}
            argv = [sys.executable, "-m", "edgewatch.shared.cli", "sensors", "import", str(path)]
            done = subprocess.run(
                [*argv, "--api", api.base_url], env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
            assert "registered 2 sensor(s)" in done.stdout and "(2 new)" in done.stdout
            with api.client() as http:
                listed = {s["sensor_id"]: s for s in http.get("/api/v1/sensors").json()}
            assert listed["pump-7"]["registered"] and listed["pump-7"]["origin"] == "api"
            env.pop("EDGEWATCH_API_TOKEN")
            refused = subprocess.run(
                [*argv, "--api", api.base_url], env=env, capture_output=True, text=True, timeout=60
            )
            assert refused.returncode == 2 and "no API token" in refused.stderr
            assert "Traceback" not in refused.stderr and api.token not in refused.stderr
        finally:
            gen.close()
    finally:
        broker.stop()
