"""Plain Lambda handlers behind the fixture's HTTP API routes (payload format 2.0).

They show what the gateway hands a function and how it turns a result into a response:
`echo` answers the event itself, `respond` answers whatever result the request asks for.
Only the standard library is imported: this is a Lambda code directory of its own.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

#: Set by `environment` on `?mark=X`; a warm process keeps it, another function never sees it.
STATE: dict[str, Any] = {}


def _json(value: Any, status: int = 200) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(value),
    }


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Any route: the response body is the event, as the function received it."""
    return _json({"event": event, "requestId": context.aws_request_id})


def _request_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def respond(event: dict[str, Any], context: Any) -> Any:
    """`POST /respond` with `{"result": X}` answers X; `POST /size` answers the body's size."""
    body = _request_body(event)
    if event["routeKey"] == "POST /size":
        return {"length": len(body), "isBase64Encoded": event["isBase64Encoded"]}
    return json.loads(body)["result"]


def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("crash on purpose")


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`?seconds=S` sleeps S s, then answers how long it slept."""
    seconds = float((event.get("queryStringParameters") or {}).get("seconds", "1"))
    # A mark in the gateway's stderr: tests wait for it to know the request is running.
    print(f"slow: sleeping {seconds} s ({event['requestContext']['requestId']})", flush=True)
    time.sleep(seconds)
    return _json({"slept": seconds, "pid": os.getpid()})


def environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What this function's process sees; `?mark=X` stores X in a module global first."""
    query = event.get("queryStringParameters") or {}
    if "mark" in query:
        STATE["mark"] = query["mark"]
    names = (
        "FLAVOUR",
        "ONLY_A",
        "ONLY_B",
        "SHARED",
        "LEAK_CANARY",
        "AWS_LAMBDA_FUNCTION_NAME",
        "WEBSOCKET_URL",
        "HTTP_API_URL",
    )
    return _json(
        {
            "env": {name: os.environ.get(name) for name in names},
            "mark": STATE.get("mark"),
            "pid": os.getpid(),
        }
    )
