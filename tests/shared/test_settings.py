"""Settings precedence (flag > EDGEWATCH_* > TOML > default) and broker addresses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from edgewatch.agent.settings import AgentSettings
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.mqtt_options import BrokerAddress
from edgewatch.shared.settings import add_settings_arguments, load_settings


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, AgentSettings)
    return parser.parse_args(argv)


def test_flag_beats_environment_beats_toml_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "edgewatch.toml"
    config.write_text('[agent]\nrate = 5.0\nsensors = 7\nkeepalive = 30\nid = "from-toml"\n')
    monkeypatch.setenv("EDGEWATCH_SENSORS", "9")
    monkeypatch.setenv("EDGEWATCH_ID", "from-env")
    s = load_settings(
        AgentSettings, _parse(["--config", str(config), "--id", "from-flag"]), "agent"
    )
    assert s.id == "from-flag"  # flag over env and TOML
    assert s.sensors == 9  # env over TOML
    assert s.rate == 5.0 and s.keepalive == 30  # TOML over default
    assert s.batch_max == AgentSettings.model_fields["batch_max"].default


def test_bad_values_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(AgentSettings, _parse(["--id", "has space"]), "agent")
    broken = tmp_path / "bad.toml"
    broken.write_text("[agent\n")
    with pytest.raises(ConfigError):
        load_settings(AgentSettings, _parse(["--config", str(broken)]), "agent")


def test_broker_urls() -> None:
    a = BrokerAddress.parse("mqtt://pi%2D7:s3cr%40t@broker.local:1884")
    assert (a.host, a.port, a.username, a.password, a.tls) == (
        "broker.local",
        1884,
        "pi-7",
        "s3cr@t",
        False,
    )
    assert a.url() == "mqtt://pi-7@broker.local:1884"  # no secret in logs
    assert BrokerAddress.parse("mqtts://h").port == 8883
    for bad in ("http://h:1", "mqtt://", "h:1883", "mqtt://h:notaport"):
        with pytest.raises(ConfigError):
            BrokerAddress.parse(bad)
