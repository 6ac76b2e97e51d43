"""`$disconnect`: remove the connection, its user index and memberships; tell its rooms."""

from __future__ import annotations

from switchboard.events import WebSocketEvent
from switchboard.handlers.invocation import Response, websocket_handler
from switchboard.presence import announce_if_first_or_last
from switchboard.runtime import Runtime


def disconnect(event: WebSocketEvent, rt: Runtime) -> Response:
    removed = rt.store.remove_connection(event.connection_id)
    if removed is None:
        # A broadcast pruned it first (a 410): the copy it kept names the rooms.
        removed = rt.store.take_departure(event.connection_id)
    if removed is not None:
        broadcaster = rt.broadcaster(event.management_endpoint())
        for room in sorted(removed.rooms):
            announce_if_first_or_last(rt.store, broadcaster, "left", room, removed)
    return Response()


handler = websocket_handler(disconnect)
