"""The chat function: `sendmessage`, `join`, `leave` and the `$default` route.

One function serves every message route, so a chat needs one warm container rather than one
per action; `$connect` and `$disconnect` are separate functions with narrower permissions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from switchboard.errors import BadRequest, Forbidden, UnknownAction
from switchboard.events import WebSocketEvent
from switchboard.handlers.invocation import Response, websocket_handler
from switchboard.presence import announce, presence_event
from switchboard.protocol import (
    ACTIONS,
    encode_deliverable,
    new_message_id,
    now_ms,
    parse_body,
    room_field,
)
from switchboard.runtime import Runtime

Action = Callable[[WebSocketEvent, Runtime, dict[str, Any]], Response]


def send_message(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    if "data" not in message:
        raise BadRequest('"data" is required: any JSON value to send to the room')
    room = room_field(message, required=False)
    sender = rt.store.require_connection(event.connection_id)
    if room not in sender.rooms:
        raise Forbidden(f'you are not in room "{room}": join it first')
    message_id = new_message_id()
    envelope: dict[str, Any] = {
        "type": "message",
        "room": room,
        "from": {"connectionId": sender.connection_id, "name": sender.name},
        "data": message["data"],
        "id": message_id,
        "ts": now_ms(),
    }
    if sender.user_id:
        envelope["from"]["userId"] = sender.user_id
    payload = encode_deliverable(envelope)
    result = rt.broadcaster(event.management_endpoint()).to_room(
        room, payload, sender=sender.connection_id
    )
    return Response(
        {
            "type": "sent",
            "id": message_id,
            "room": room,
            "delivered": result.delivered,
            "pruned": result.pruned,
            "failed": result.failed,
        }
    )


def join(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    room = room_field(message, required=True)
    connection = rt.store.require_connection(event.connection_id)
    if rt.store.join_room(connection, room):
        announce(rt.broadcaster(event.management_endpoint()), "joined", room, connection)
    return Response(presence_event("joined", room, connection))


def leave(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    room = room_field(message, required=True)
    connection = rt.store.require_connection(event.connection_id)
    if rt.store.leave_room(connection, room):
        announce(rt.broadcaster(event.management_endpoint()), "left", room, connection)
    return Response(presence_event("left", room, connection))


ROUTES: dict[str, Action] = {"sendmessage": send_message, "join": join, "leave": leave}
assert set(ROUTES) == set(ACTIONS), "protocol.ACTIONS must list exactly the routes served"


def chat(event: WebSocketEvent, rt: Runtime) -> Response:
    message = parse_body(event.body)
    action = message.get("action")
    # `$default` receives what matched no route; route on the body as a fallback so that a
    # stack wired with fewer routes still answers correctly.
    route = event.route_key if event.route_key in ROUTES else action
    if not isinstance(route, str) or route not in ROUTES:
        if action is None:
            raise UnknownAction('the message has no "action" field')
        raise UnknownAction(f"unknown action {str(action)[:64]!r}")
    return ROUTES[route](event, rt, message)


handler = websocket_handler(chat)
