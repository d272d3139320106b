"""Settings precedence (flag > EDGEWATCH_* > TOML > default), secrets, broker addresses."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from edgewatch.agent.settings import AgentSettings
from edgewatch.coordinator.settings import CoordinatorSettings
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.mqtt_options import BrokerAddress
from edgewatch.shared.settings import add_settings_arguments, check_writable_dir, load_settings


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
    assert "s3cr@t" not in repr(a)
    # The password survives the round trip through a URL, encoded where it must be.
    assert BrokerAddress.parse(a.url(with_secret=True)) == a
    assert BrokerAddress.parse("mqtts://h").port == 8883
    for bad in ("http://h:1", "mqtt://", "h:1883", "mqtt://h:notaport"):
        with pytest.raises(ConfigError):
            BrokerAddress.parse(bad)


# -- errors name the flag, never the value ------------------------------------------------


def _coordinator(argv: list[str]) -> CoordinatorSettings:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, CoordinatorSettings)
    return load_settings(CoordinatorSettings, parser.parse_args(argv), "coordinator")


def test_a_bad_value_names_its_flag_and_variable_one_line_each() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(AgentSettings, _parse(["--rate", "-1", "--sensors", "0"]), "agent")
    assert str(caught.value).splitlines() == [
        "--sensors (EDGEWATCH_SENSORS): Input should be greater than or equal to 1",
        "--rate (EDGEWATCH_RATE): Input should be greater than or equal to 0",
    ]


def test_a_bad_value_from_toml_says_where_it_was_set(tmp_path: Path) -> None:
    config = tmp_path / "edgewatch.toml"
    config.write_text("[agent]\nrate = -1\nnonesuch = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(AgentSettings, _parse(["--config", str(config)]), "agent")
    assert str(caught.value).splitlines() == [
        "--rate (EDGEWATCH_RATE): Input should be greater than or equal to 0 "
        f"(set in [agent] of {config})",
        f"nonesuch: unknown setting (set in [agent] of {config})",
    ]


def test_a_refused_token_is_never_echoed(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError) as caught:
        _coordinator(["--api-token", "short-secret-1"])
    message = str(caught.value)
    assert message.startswith("--api-token (EDGEWATCH_API_TOKEN): is a placeholder")
    assert "short-secret-1" not in message and "input_value" not in message
    # ... and typing it on the command line earns a warning that does not repeat it.
    assert "--api-token on the command line is visible" in caplog.text
    assert "EDGEWATCH_API_TOKEN_FILE" in caplog.text and "short-secret-1" not in caplog.text


def test_a_bad_broker_url_is_shown_without_its_password() -> None:
    for argv in (
        ["--broker", "mqtt://pi-7:hunter22@h:notaport"],
        ["--broker", "http://u:hunter22@h"],
    ):
        with pytest.raises(ConfigError) as caught:
            _coordinator(argv)
        assert str(caught.value).startswith("--broker (EDGEWATCH_BROKER): ")
        assert "hunter22" not in str(caught.value) and ":***@" in str(caught.value)


def test_a_password_in_a_broker_flag_earns_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    load_settings(AgentSettings, _parse(["--broker", "mqtt://pi-7:hunter22@h:1883"]), "agent")
    assert "--broker holds a password" in caplog.text and "--broker-password-file" in caplog.text
    assert "hunter22" not in caplog.text


# -- secrets from files ---------------------------------------------------------------------


def _secret(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


def test_broker_password_file_joins_the_url_that_keeps_its_user(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _secret(tmp_path, "pw", "p@ss:word\n")
    argv = ["--broker", "mqtt://pi-7@broker:1884", "--broker-password-file", str(path)]
    s = load_settings(AgentSettings, _parse(argv), "agent")
    address = BrokerAddress.parse(s.broker)
    assert (address.username, address.password, address.port) == ("pi-7", "p@ss:word", 1884)
    assert "p@ss" not in repr(address) and address.url() == "mqtt://pi-7@broker:1884"
    assert caplog.records == []  # nothing secret was typed: no warning


def test_broker_password_needs_a_user_and_only_one_password(tmp_path: Path) -> None:
    path = str(_secret(tmp_path, "pw", "pw-from-file"))
    for broker, problem in (
        ("mqtt://broker:1883", "needs a user in the broker URL"),
        ("mqtt://pi-7:other@broker:1883", "given twice"),
    ):
        argv = ["--broker", broker, "--broker-password-file", path]
        with pytest.raises(ConfigError, match=problem) as caught:
            load_settings(AgentSettings, _parse(argv), "agent")
        assert "pw-from-file" not in str(caught.value) and "other" not in str(caught.value)
    with pytest.raises(ConfigError, match="embedded broker takes no password"):
        _coordinator(["--broker", "embedded", "--broker-password-file", path])


def test_secret_file_variables_at_each_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "t" * 20
    env_file = _secret(tmp_path, "env-token", f"  {token}-env\n")
    flag_file = _secret(tmp_path, "flag-token", f"{token}-flag")
    config = tmp_path / "edgewatch.toml"
    config.write_text(f'[coordinator]\napi_token_file = "{_secret(tmp_path, "t", token)}"\n')

    def token_of(argv: list[str]) -> str:
        value = _coordinator(argv).api_token
        assert value is not None
        return value.get_secret_value()

    assert token_of(["--config", str(config)]) == token  # TOML's file
    monkeypatch.setenv("EDGEWATCH_API_TOKEN_FILE", str(env_file))
    assert token_of(["--config", str(config)]) == f"{token}-env"  # env over TOML, stripped
    assert token_of(["--api-token-file", str(flag_file)]) == f"{token}-flag"  # flag over env
    monkeypatch.setenv("EDGEWATCH_API_TOKEN", f"{token}-plain")
    with pytest.raises(ConfigError, match="EDGEWATCH_API_TOKEN and EDGEWATCH_API_TOKEN_FILE"):
        _coordinator([])


def test_unreadable_or_empty_secret_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--api-token-file: cannot read .*nonesuch"):
        _coordinator(["--api-token-file", str(tmp_path / "nonesuch")])
    with pytest.raises(ConfigError, match=r"^--api-token-file: .* is empty$"):
        _coordinator(["--api-token-file", str(_secret(tmp_path, "blank", " \n"))])
    with pytest.raises(ConfigError, match="give one"):
        _coordinator(["--api-token", "x" * 20, "--api-token-file", str(tmp_path / "t")])


def test_secret_fields_get_a_file_flag_and_others_do_not() -> None:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, CoordinatorSettings)
    help_text = parser.format_help()
    assert "--api-token-file FILE" in help_text and "EDGEWATCH_API_TOKEN_FILE" in help_text
    assert "--broker-password-file FILE" in help_text
    assert "--db-file" not in help_text and "--broker-file" not in help_text


# -- directories that must be writable --------------------------------------------------------


def test_a_directory_that_cannot_be_created_is_named_with_its_flag(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as caught:
        check_writable_dir(blocker / "agent", "--data-dir")
    assert str(caught.value) == (
        f"--data-dir {blocker / 'agent'}: cannot create the directory: Not a directory"
    )
    check_writable_dir(tmp_path / "new" / "dir", "--data-dir")
    assert (tmp_path / "new" / "dir").is_dir()
