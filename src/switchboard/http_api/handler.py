"""The Lambda entry point of `HttpApiFunction`: the app behind Mangum, for HTTP API events
(payload format 2.0). Built at import, so a bad setting fails the cold start, not a request.
"""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from switchboard.http_api.app import create_app

app = create_app()
# No lifespan: the app has no startup work; clients are created on first use (runtime.py).
_asgi = Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Mangum's handler, given the path as it expects it.

    HTTP APIs hand over `requestContext.http.path` already URL-decoded, and Mangum decodes it
    again: `/users/u%2541/messages` (the user `u%41`) would reach the app as `/users/uA/...`
    and the message another user. A `%` in the decoded path is a literal one, so it is
    escaped to `%25` first, and Mangum's decoding gives back the path the gateway decoded.
    """
    http = event.get("requestContext", {}).get("http")
    if isinstance(http, dict) and "%" in str(http.get("path", "")):
        escaped = {**http, "path": http["path"].replace("%", "%25")}
        event = {**event, "requestContext": {**event["requestContext"], "http": escaped}}
    response: dict[str, Any] = _asgi(event, context)
    return response
