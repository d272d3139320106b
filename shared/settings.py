"""Settings plumbing shared by every process: flags, ``EDGEWATCH_*`` variables, TOML.

Each process has one pydantic-settings class. This module turns its fields into
``argparse`` flags (so ``--help`` lists every knob with its variable and default) and
merges the sources with the precedence an operator expects:

    command-line flag  >  EDGEWATCH_* variable  >  TOML file (--config)  >  default

Secret fields (``SecretStr``, or a name with token/password/secret in it) can also be
read from a file, at each level: ``--api-token-file PATH``, ``EDGEWATCH_API_TOKEN_FILE``,
``api_token_file = "PATH"``; the file's content, stripped, is the value. A secret typed on
the command line is visible to every local user in ``ps``: that earns a warning.

Errors name what the operator typed, never what the code calls it, and never show a
value that could be a secret:

    --rate (EDGEWATCH_RATE): Input should be greater than or equal to 0
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsError

from edgewatch.shared.errors import ConfigError
from edgewatch.shared.redact import redact

log = logging.getLogger(__name__)
ENV_PREFIX = "EDGEWATCH_"
FILE_SUFFIX = "_file"
SECRET_WORDS = ("token", "password", "secret")
S = TypeVar("S", bound=BaseSettings)


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def is_secret(name: str, field: FieldInfo) -> bool:
    """Fields whose values must never reach a log, an error or a command line."""
    return any(word in name for word in SECRET_WORDS) or _mentions(field.annotation, SecretStr)


def _mentions(annotation: Any, target: type) -> bool:
    if annotation is target:
        return True
    return any(_mentions(a, target) for a in typing.get_args(annotation))


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return origin is list


def _is_bool(annotation: Any) -> bool:
    return annotation is bool


def _file_dest(name: str) -> str:
    return f"{name}__file"


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type[BaseSettings]) -> None:
    """One ``--flag`` per settings field, defaulting to None so unset flags don't override.

    Secret fields get a ``--flag-file PATH`` twin, the way to keep them out of ``ps``.
    """
    for name, field in cls.model_fields.items():
        flag = flag_name(name)
        default = field.default if field.default is not None else "none"
        shown = str(default) if isinstance(default, Path | int | float | str | bool) else "see docs"
        help_text = f"{field.description or ''} [env {env_name(name)}; default {shown}]"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        if _is_bool(field.annotation):
            parser.add_argument(
                flag, dest=name, default=None, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif _is_list(field.annotation):
            parser.add_argument(flag, dest=name, default=None, nargs="+", help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, help=help_text)
        if is_secret(name, field):
            parser.add_argument(
                flag + "-file",
                dest=_file_dest(name),
                type=Path,
                default=None,
                metavar="FILE",
                help=f"read {flag} from FILE (kept out of ps) [env {env_name(name)}_FILE]",
            )
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")


def load_settings(cls: type[S], args: argparse.Namespace, section: str) -> S:
    """Build ``cls`` from flags, environment and the ``[section]`` of ``--config``."""
    sources = _Sources(cls, section)
    config: Path | None = getattr(args, "config", None)
    if config is not None:
        sources.add_toml(config)
    sources.add_env_files()
    sources.add_flags(args)
    # `from None`: the chained error would carry pydantic's own text, input values and
    # all, into any traceback that prints it.
    try:
        return cls(**sources.values)
    except ValidationError as exc:
        raise ConfigError(sources.explain(exc)) from None
    except (SettingsError, ConfigError) as exc:
        raise ConfigError(redact(str(exc), *sources.secrets())) from None


class _Sources:
    """The values of flags, ``_FILE`` variables and TOML, weakest added first."""

    def __init__(self, cls: type[BaseSettings], section: str) -> None:
        self.fields = cls.model_fields
        self.section = section
        self.values: dict[str, Any] = {}
        self.origin: dict[str, str] = {}  # where a value came from, for error messages
        self._secret = {n for n, f in self.fields.items() if is_secret(n, f)}

    def add_toml(self, config: Path) -> None:
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"--config {config}: cannot read it: {exc}") from exc
        where = f"[{self.section}] of {config}"
        for key, value in data.get(self.section, {}).items():
            name = key.removesuffix(FILE_SUFFIX) if key.endswith(FILE_SUFFIX) else key
            if name not in self._secret:
                name = key
            if _env_sets(name):
                continue  # the environment is stronger
            if name in self.values:
                raise ConfigError(f"{name} and {key} are both set in {where}: keep one")
            if name != key:
                value = read_secret_file(Path(value), f"{key} in {where}")
            self.values[name] = value
            self.origin[name] = f"set in {where}"

    def add_env_files(self) -> None:
        for name in self._secret:
            var = env_name(name) + FILE_SUFFIX.upper()
            if var not in os.environ:
                continue
            if env_name(name) in os.environ:
                raise ConfigError(f"{env_name(name)} and {var} are both set: keep one")
            path = Path(os.environ[var])
            self.values[name] = read_secret_file(path, var)
            self.origin[name] = f"read from {path}"

    def add_flags(self, args: argparse.Namespace) -> None:
        for name in self.fields:
            value = getattr(args, name, None)
            path: Path | None = getattr(args, _file_dest(name), None)
            flag = flag_name(name)
            if value is not None and path is not None:
                raise ConfigError(f"{flag} and {flag}-file: give one")
            if path is not None:
                self.values[name] = read_secret_file(path, flag + "-file")
                self.origin[name] = f"read from {path}"
            elif value is not None:
                self.values[name] = value
                self.origin[name] = "flag"
                self._warn_if_exposed(name, value)

    def _warn_if_exposed(self, name: str, value: Any) -> None:
        flag = flag_name(name)
        if name in self._secret:
            log.warning(
                "%s on the command line is visible to every local user (ps, shell history): "
                "use %s_FILE or %s-file instead",
                flag,
                env_name(name),
                flag,
            )
        elif isinstance(value, str) and redact(value) != value:
            hint = next((flag_name(n) + "-file" for n in self._secret if n.startswith(name)), None)
            log.warning(
                "%s holds a password, visible to every local user (ps, shell history): %s",
                flag,
                f"leave it out of the URL and use {hint}" if hint else "use a file instead",
            )

    def secrets(self) -> list[str]:
        """Every secret value known here (to mask them should a message quote one)."""
        found = [self.values.get(n) for n in self._secret] + [
            os.environ.get(env_name(n)) for n in self._secret
        ]
        return [
            v.get_secret_value() if isinstance(v, SecretStr) else str(v)
            for v in found
            if v is not None
        ]

    def explain(self, exc: ValidationError) -> str:
        """One line per error: the flag and variable, pydantic's message, no input value."""
        hidden = self.secrets()
        return "\n".join(redact(self._line(error), *hidden) for error in exc.errors())

    def _line(self, error: ErrorDetails) -> str:
        msg = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:
            return msg  # a check across fields: its message names them
        name = str(error["loc"][0])
        if name not in self.fields:
            where = self.origin.get(name, "")
            return f"{name}: unknown setting{' (' + where + ')' if where else ''}"
        origin = self.origin.get(name, "flag")
        suffix = "" if origin == "flag" else f" ({origin})"
        return f"{flag_name(name)} ({env_name(name)}): {msg}{suffix}"


def _env_sets(name: str) -> bool:
    return env_name(name) in os.environ or env_name(name) + FILE_SUFFIX.upper() in os.environ


def read_secret_file(path: Path, source: str) -> str:
    """The stripped content of ``path``; ``source`` (a flag or variable) names it in errors."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{source}: cannot read {path}: {why}") from exc
    if not value:
        raise ConfigError(f"{source}: {path} is empty")
    return value


def check_writable_dir(directory: Path, flag: str, value: Path | None = None) -> None:
    """Create ``directory`` if needed and prove it writable, or say which flag names it.

    ``value`` is what the flag was given when it names a file in ``directory`` (``--db``).
    Checked before anything opens a database there, so a read-only disk or a wrong mount
    ends in one line instead of SQLite's "unable to open database file":

        --data-dir /srv/agent: cannot write there: Read-only file system
    """
    label = f"{flag} {value if value is not None else directory}"
    there = "there" if value is None else f"in {directory}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        what = "the directory" if value is None else str(directory)
        raise ConfigError(f"{label}: cannot create {what}: {exc.strerror or exc}") from exc
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise ConfigError(f"{label}: cannot write {there}: {exc.strerror or exc}") from exc
