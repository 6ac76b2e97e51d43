"""One JSON line per request, as the WebSocket functions log one per invocation.

Method, route (the template, `/rooms/{room}/messages`, never the values), status,
durationMs and API Gateway's requestId. Never a body, a header or a token. Every response
also says `nosniff`, so nothing JSON is ever taken for HTML.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.structured_log import get_logger

log = get_logger("switchboard")


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def logged_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-content-type-options", b"nosniff"),
                ]
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            route = scope.get("route")
            event: dict[str, Any] = scope.get("aws.event") or {}
            log.info(
                "request",
                extra={
                    "method": scope.get("method"),
                    "route": getattr(route, "path", None),
                    "status": status,
                    "requestId": (event.get("requestContext") or {}).get("requestId"),
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                },
            )
