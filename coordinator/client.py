"""The REST API as the command line uses it: ``edgewatch sensors|status ... --api URL``.

The token comes from ``--token-file FILE`` or ``EDGEWATCH_API_TOKEN`` (never a flag of
its own: it would show in ``ps``). Errors are one line each: ``ApiUnreachable`` when
nothing answers, ``ApiRefused`` when the coordinator answers with an error status.

>>> ApiClient("http://127.0.0.1:8000/", "t" * 20).url("agents")
'http://127.0.0.1:8000/api/v1/agents'
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from edgewatch.shared.errors import ConfigError

TOKEN_ENV = "EDGEWATCH_API_TOKEN"


class ApiUnreachable(ConfigError):
    """Nothing answered at the API address (down, wrong address, refused)."""


class ApiRefused(ConfigError):
    """The coordinator answered with an error status; ``status`` is it."""

    def __init__(self, message: str, status: int, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def add_api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", required=True, metavar="URL", help="e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--token-file", type=Path, help=f"file holding the API token (default: {TOKEN_ENV})"
    )


def token_from(token_file: Path | None) -> str:
    if token_file is not None:
        try:
            return token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {token_file}: {exc.strerror}") from exc
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise ConfigError(f"no API token: set {TOKEN_ENV} or pass --token-file FILE")
    return token


class ApiClient:
    def __init__(self, base: str, token: str, *, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ApiClient:
        return cls(args.api, token_from(args.token_file))

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"{self.base}/api/v1/{path.lstrip('/')}{query}"

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, body)

    def call(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        url = self.url(path, params)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:2000].decode(errors="replace")
            raise ApiRefused(
                f"{method} {url}: HTTP {exc.code}: {detail[:500]}", exc.code, detail
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise ApiUnreachable(f"cannot reach {self.base}: {reason}") from exc
        return json.loads(raw) if raw else None
