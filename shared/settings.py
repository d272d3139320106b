"""Settings plumbing shared by every process: flags, ``EDGEWATCH_*`` variables, TOML.

Each process has one pydantic-settings class. This module turns its fields into
``argparse`` flags (so ``--help`` lists every knob with its variable and default) and
merges the sources with the precedence an operator expects:

    command-line flag  >  EDGEWATCH_* variable  >  TOML file (--config)  >  default
"""

from __future__ import annotations

import argparse
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from edgewatch.shared.errors import ConfigError

ENV_PREFIX = "EDGEWATCH_"
S = TypeVar("S", bound=BaseSettings)


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return origin is list


def _is_bool(annotation: Any) -> bool:
    return annotation is bool


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type[BaseSettings]) -> None:
    """One ``--flag`` per settings field, defaulting to None so unset flags don't override."""
    for name, field in cls.model_fields.items():
        flag = "--" + name.replace("_", "-")
        default = field.default if field.default is not None else "none"
        shown = str(default) if isinstance(default, Path | int | float | str | bool) else "see docs"
        help_text = f"{field.description or ''} [env {env_name(name)}; default {shown}]"
        if _is_bool(field.annotation):
            parser.add_argument(
                flag, dest=name, default=None, action=argparse.BooleanOptionalAction, help=help_text
            )
        elif _is_list(field.annotation):
            parser.add_argument(flag, dest=name, default=None, nargs="+", help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, help=help_text)
    parser.add_argument("--config", type=Path, default=None, help="TOML settings file")


def load_settings(cls: type[S], args: argparse.Namespace, section: str) -> S:
    """Build ``cls`` from flags, environment and the ``[section]`` of ``--config``."""
    values: dict[str, Any] = {}
    config: Path | None = getattr(args, "config", None)
    if config is not None:
        try:
            data = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {config}: {exc}") from exc
        table = data.get(section, {})
        values.update({k: v for k, v in table.items() if env_name(k) not in os.environ})
    for name in cls.model_fields:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    try:
        return cls(**values)
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc
