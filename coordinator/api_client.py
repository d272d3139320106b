"""A small client of the coordinator's REST API, for the admin verbs (``train --api``,
``rollout``, ``keys --api``).

The token comes from ``EDGEWATCH_API_TOKEN`` or ``--token-file`` (never a flag: it would
show in ``ps``). Errors become one ``ConfigError`` line with the HTTP status and the
API's own explanation.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from edgewatch.shared.errors import ConfigError


def add_api_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--api",
        required=required,
        metavar="URL",
        help="the coordinator, e.g. http://127.0.0.1:8000",
    )
    parser.add_argument(
        "--token-file", type=Path, help="file holding the API token (default: EDGEWATCH_API_TOKEN)"
    )


def token_of(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        try:
            return str(args.token_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"cannot read {args.token_file}: {exc.strerror}") from exc
    token = os.environ.get("EDGEWATCH_API_TOKEN", "")
    if not token:
        raise ConfigError("no API token: set EDGEWATCH_API_TOKEN or pass --token-file FILE")
    return token


class ApiClient:
    def __init__(self, base: str, token: str, *, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/") + "/api/v1/"
        self.token = token
        self.timeout = timeout

    @staticmethod
    def of(args: argparse.Namespace, *, timeout: float = 30.0) -> ApiClient:
        return ApiClient(args.api, token_of(args), timeout=timeout)

    def get(self, path: str) -> Any:
        return json.loads(self.raw("GET", path))

    def post(self, path: str, body: Any = None) -> Any:
        return json.loads(self.raw("POST", path, body))

    def raw(self, method: str, path: str, body: Any = None) -> bytes:
        url = self.base + path.lstrip("/")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as exc:
            raise ConfigError(f"{method} {url}: HTTP {exc.code}: {_detail(exc.read())}") from exc
        except urllib.error.URLError as exc:
            raise ConfigError(f"cannot reach {url}: {exc.reason}") from exc
        except TimeoutError as exc:
            raise ConfigError(f"{method} {url}: no answer within {self.timeout:.0f} s") from exc


def _detail(body: bytes) -> str:
    """The API's ``detail`` when it gave one, else the start of the body."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        where = ".".join(str(p) for p in first.get("loc", []))
        return f"{where}: {first.get('msg', '')}"
    return body[:300].decode(errors="replace")
