"""Fixture events: every event a test sends starts from one of `events/*.json`."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


def event_names() -> list[str]:
    return sorted(path.stem for path in EVENTS.glob("*.json"))


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of `events/{name}.json`, safe to modify."""
    with (EVENTS / f"{name}.json").open(encoding="utf-8") as stream:
        event: dict[str, Any] = json.load(stream)
    return event


def connection_id(number: int) -> str:
    """A connection id shaped like API Gateway's (base64, 16 characters, `=` padded)."""
    return base64.urlsafe_b64encode(number.to_bytes(11, "big")).decode("ascii")


def connect_event(connection: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    """`connect.json` for another connection; `query` replaces its query string (None: none)."""
    event = load_event("connect")
    event["requestContext"]["connectionId"] = connection
    if query is None:
        del event["queryStringParameters"], event["multiValueQueryStringParameters"]
    else:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def message_event(connection: str, body: str | None, route_key: str) -> dict[str, Any]:
    """`sendmessage.json` carrying another body, as routed to `route_key`."""
    event = load_event("sendmessage")
    event["requestContext"]["connectionId"] = connection
    event["requestContext"]["routeKey"] = route_key
    if body is None:
        del event["body"]
    else:
        event["body"] = body
    return event


def disconnect_event(connection: str) -> dict[str, Any]:
    event = load_event("disconnect")
    event["requestContext"]["connectionId"] = connection
    return event
