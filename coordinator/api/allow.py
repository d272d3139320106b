"""A 405 answer names every method its path supports in ``Allow`` (RFC 9110 15.5.6).

Starlette answers 405 from the first route whose path matches, so for a path served by
two routes (``GET`` and ``POST /api/v1/sensors``) its ``Allow`` named only one of them.
This middleware rewrites the header of a 405 from all the routes that match the path.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(scope)
            if match in (Match.FULL, Match.PARTIAL):
                methods |= route.methods
    return sorted(methods)


class AllowHeader:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = allowed_methods(self.routes, scope)
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                headers.append((b"allow", ", ".join(methods).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_allow)
