"""The chat function: every message route (`sendmessage`, `join`, `leave`, `sendto`, `rooms`,
`members`, `history`) and `$default`.

One function serves them all, so a chat needs one warm container rather than one per
action; `$connect` and `$disconnect` are separate functions with narrower permissions.
Who the caller is comes from the authorizer's context on the event, never from the message.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from switchboard.errors import BadRequest, Forbidden, NotFound, UnknownAction
from switchboard.events import WebSocketEvent
from switchboard.handlers.invocation import Response, log, websocket_handler
from switchboard.history import JOIN_HISTORY, MAX_PAGE
from switchboard.identity import Identity
from switchboard.messaging import send_to_room, send_to_user
from switchboard.presence import announce_if_first_or_last, presence_event
from switchboard.protocol import (
    ACTIONS,
    limit_field,
    now_ms,
    parse_body,
    room_field,
    user_field,
)
from switchboard.runtime import Runtime

Action = Callable[[WebSocketEvent, Runtime, dict[str, Any]], Response]


def _require_data(message: dict[str, Any]) -> Any:
    if "data" not in message:
        raise BadRequest('"data" is required: any JSON value to send')
    return message["data"]


def _may_enter(event: WebSocketEvent, room: str) -> None:
    # One message whether the room exists or not: a refusal tells nothing about the room.
    if not Identity.from_context(event.authorizer).may_enter(room):
        raise Forbidden(f'you may not enter room "{room}"')


def send_message(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    data = _require_data(message)
    room = room_field(message, required=False)
    sender = rt.store.require_connection(event.connection_id)
    if room not in sender.rooms:
        raise Forbidden(f'you are not in room "{room}": join it first')
    sent = send_to_room(
        rt, event.management_endpoint(), room, sender.sender(), data, exclude=sender.connection_id
    )
    return Response(
        {
            "type": "sent",
            "id": sent.id,
            "room": room,
            "delivered": sent.result.delivered,
            "pruned": sent.result.pruned,
            "failed": sent.result.failed,
        }
    )


def send_to(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    to = user_field(message)
    data = _require_data(message)
    sender = rt.store.require_connection(event.connection_id)
    sent, recipients = send_to_user(
        rt, event.management_endpoint(), to, sender.sender(), data, exclude=sender.connection_id
    )
    if recipients == 0:
        if to == sender.user_id:
            raise NotFound("you have no other connection to send to")
        raise NotFound(f'user "{to}" is not connected')
    return Response(
        {
            "type": "sent",
            "to": to,
            "id": sent.id,
            "delivered": sent.result.delivered,
            "pruned": sent.result.pruned,
            "failed": sent.result.failed,
        }
    )


def join(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    room = room_field(message, required=True)
    _may_enter(event, room)
    connection = rt.store.require_connection(event.connection_id)
    joined_at = now_ms()
    if rt.store.join_room(connection, room, joined_at=joined_at):
        # For the HTTP API's room list; written while the announcement goes out.
        registering = rt.in_background(lambda: rt.room_index.register(room))
        broadcaster = rt.broadcaster(event.management_endpoint())
        announced = announce_if_first_or_last(
            rt.store, broadcaster, "joined", room, connection, joined_at=joined_at
        )
        if announced is not None and rt.store.get_connection(connection.connection_id) is None:
            # The connection's $disconnect ran while this join was being announced (a client
            # that joined and closed at once): its `left` may have gone out before our
            # `joined`. The room must not be left believing the user is there.
            announce_if_first_or_last(rt.store, broadcaster, "left", room, connection)
        _settle_registration(registering, room)
    reply = presence_event("joined", room, connection)
    try:
        # With the cursor to what is older: `history` pages back from here, no repeats.
        page = rt.history.page(room, JOIN_HISTORY)
        reply["messages"], reply["next"] = page.messages, page.next
    except Exception:
        # The join has happened; a history that cannot be read must not turn it into an error.
        log.exception("could not read the room's history", extra={"room": room})
        reply["messages"], reply["next"] = [], None
    return Response(reply)


def _settle_registration(registering: Future[None], room: str) -> None:
    try:
        registering.result()
    except Exception:
        # The join has happened; a room missing from the HTTP API's list must not undo it.
        log.exception("could not register the room", extra={"room": room})


def leave(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    room = room_field(message, required=True)
    connection = rt.store.require_connection(event.connection_id)
    if rt.store.leave_room(connection, room):
        broadcaster = rt.broadcaster(event.management_endpoint())
        announce_if_first_or_last(rt.store, broadcaster, "left", room, connection)
    return Response(presence_event("left", room, connection))


def rooms(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    connection = rt.store.require_connection(event.connection_id)
    return Response({"type": "rooms", "rooms": sorted(connection.rooms)})


def members(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    room = room_field(message, required=True)
    _may_enter(event, room)
    rt.store.require_connection(event.connection_id)
    listed = [
        {"name": m.name, "userId": m.user_id, "connections": m.connections}
        for m in rt.store.room_members(room)
    ]
    return Response({"type": "members", "room": room, "members": listed})


def history(event: WebSocketEvent, rt: Runtime, message: dict[str, Any]) -> Response:
    room = room_field(message, required=True)
    _may_enter(event, room)
    limit = limit_field(message, default=50, maximum=MAX_PAGE)
    connection = rt.store.require_connection(event.connection_id)
    if room not in connection.rooms:
        raise Forbidden(f'you are not in room "{room}": join it to read its history')
    before = message.get("before")
    page = rt.history.page(room, limit, before)
    return Response({"type": "history", "room": room, "messages": page.messages, "next": page.next})


ROUTES: dict[str, Action] = {
    "sendmessage": send_message,
    "join": join,
    "leave": leave,
    "sendto": send_to,
    "rooms": rooms,
    "members": members,
    "history": history,
}
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
