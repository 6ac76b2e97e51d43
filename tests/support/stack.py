"""The template's functions, invoked the way API Gateway would invoke them.

Each event starts from a fixture in `events/`, is routed with the template's route selection
(`$request.body.action`, else `$default`), and goes to the Handler string template.yaml
names for that route: the tests never import a handler the template does not use.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from tests.support import template
from tests.support.events import (
    authorizer_context,
    connect_event,
    disconnect_event,
    message_event,
)

LambdaHandler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


@cache
def handler(handler_string: str) -> LambdaHandler:
    """Import `package.module.function` as the Lambda runtime does."""
    module, _, attribute = handler_string.rpartition(".")
    function: LambdaHandler = getattr(importlib.import_module(module), attribute)
    return function


def route_handler(route_key: str) -> LambdaHandler:
    return handler(template.handler_for_route(route_key))


def select_route(body: str | None) -> str:
    """API Gateway's route selection for `$request.body.action`."""
    expression = template.template()["Resources"]["WebSocketApi"]["Properties"][
        "RouteSelectionExpression"
    ]
    assert expression == "$request.body.action", f"route selection {expression!r} not modelled"
    try:
        message = json.loads(body or "")
    except (ValueError, RecursionError):
        return "$default"
    action = message.get("action") if isinstance(message, dict) else None
    custom = template.route_keys() - {"$connect", "$disconnect", "$default"}
    return str(action) if action is not None and str(action) in custom else "$default"


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    """Run the event through the function behind its `routeKey`."""
    return route_handler(event["requestContext"]["routeKey"])(event, None)


def reply(response: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a proxy response (what the caller receives)."""
    assert "body" in response, f"expected a reply body, got {response!r}"
    body: dict[str, Any] = json.loads(response["body"])
    return body


class Stack:
    """Connections driving the deployed functions, one call per client action.

    A connection made with `connect_as` carries its authorizer context on every later event,
    as API Gateway does; the others are guests with no authorizer context at all.
    """

    def __init__(self) -> None:
        self._authorizers: dict[str, dict[str, str]] = {}

    def connect(self, connection: str, name: str | None = None) -> dict[str, Any]:
        return invoke(connect_event(connection, {"name": name} if name is not None else None))

    def connect_with_query(self, connection: str, query: dict[str, str]) -> dict[str, Any]:
        return invoke(connect_event(connection, query))

    def connect_as(
        self,
        connection: str,
        user_id: str,
        name: str,
        rooms: Iterable[str] = (),
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Connect with the identity a valid token proved (see `authorizer_context`)."""
        return self.connect_with_context(
            connection, authorizer_context(user_id, name, rooms), query
        )

    def connect_with_context(
        self,
        connection: str,
        authorizer: Mapping[str, str],
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        self._authorizers[connection] = dict(authorizer)
        return invoke(connect_event(connection, query, authorizer))

    def send_raw(self, connection: str, body: str | None) -> dict[str, Any]:
        """Send a frame as is; returns the proxy response."""
        authorizer = self._authorizers.get(connection)
        return invoke(message_event(connection, body, select_route(body), authorizer))

    def send(self, connection: str, message: Any) -> dict[str, Any]:
        """Send `message` as JSON; returns the reply the caller gets."""
        return reply(self.send_raw(connection, json.dumps(message)))

    def disconnect(self, connection: str) -> dict[str, Any]:
        return invoke(disconnect_event(connection, self._authorizers.get(connection)))
