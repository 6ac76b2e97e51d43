"""Fixture events: every event a test sends starts from one of `events/*.json`."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def event_names() -> list[str]:
    return sorted(path.stem for path in EVENTS.glob("*.json"))


def is_http_event(event: Mapping[str, Any]) -> bool:
    """An HTTP API event (payload format 2.0), not a WebSocket one."""
    return event.get("version") == "2.0"


def websocket_event_names() -> list[str]:
    """The events of WebSocket routes (`$connect`, `sendmessage`, ...)."""
    return [name for name in event_names() if not is_http_event(load_event(name))]


def http_event_names() -> list[str]:
    """The HTTP API's events (`http-*.json`, payload format 2.0)."""
    return [name for name in event_names() if is_http_event(load_event(name))]


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of `events/{name}.json`, safe to modify."""
    with (EVENTS / f"{name}.json").open(encoding="utf-8") as stream:
        event: dict[str, Any] = json.load(stream)
    return event


def connection_id(number: int) -> str:
    """A connection id shaped like API Gateway's (base64, 16 characters, `=` padded)."""
    return base64.urlsafe_b64encode(number.to_bytes(11, "big")).decode("ascii")


def authorizer_context(user_id: str, name: str, rooms: Iterable[str] = ()) -> dict[str, str]:
    """`requestContext.authorizer` of a user the `$connect` authorizer let in with a token.

    Written out rather than built with `Identity.to_context`: this is what API Gateway hands
    the functions (the policy's flat string context, plus `principalId`).
    """
    return {
        "userId": user_id,
        "name": name,
        "rooms": ",".join(sorted(rooms)),
        "anonymous": "false",
        "principalId": user_id,
    }


#: What the authorizer passes on for a guest where the stack allows them.
ANONYMOUS_CONTEXT = {
    "userId": "",
    "name": "",
    "rooms": "",
    "anonymous": "true",
    "principalId": "anonymous",
}


def _authorize(event: dict[str, Any], authorizer: Mapping[str, str] | None) -> dict[str, Any]:
    if authorizer is not None:
        event["requestContext"]["authorizer"] = dict(authorizer)
    return event


def connect_event(
    connection: str,
    query: dict[str, str] | None = None,
    authorizer: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`connect.json` for another connection; `query` replaces its query string (None: none).

    `authorizer` is the context the authorizer allowed it with; None: no authorizer ran.
    """
    event = _authorize(load_event("connect"), authorizer)
    event["requestContext"]["connectionId"] = connection
    if query is None:
        del event["queryStringParameters"], event["multiValueQueryStringParameters"]
    else:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def message_event(
    connection: str,
    body: str | None,
    route_key: str,
    authorizer: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`sendmessage.json` carrying another body, as routed to `route_key`."""
    event = _authorize(load_event("sendmessage"), authorizer)
    event["requestContext"]["connectionId"] = connection
    event["requestContext"]["routeKey"] = route_key
    if body is None:
        del event["body"]
    else:
        event["body"] = body
    return event


def disconnect_event(
    connection: str, authorizer: Mapping[str, str] | None = None
) -> dict[str, Any]:
    event = _authorize(load_event("disconnect"), authorizer)
    event["requestContext"]["connectionId"] = connection
    return event
