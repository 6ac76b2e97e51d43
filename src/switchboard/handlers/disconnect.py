"""`$disconnect`: remove the connection and its memberships; tell its rooms it left."""

from __future__ import annotations

from switchboard.events import WebSocketEvent
from switchboard.handlers.invocation import Response, websocket_handler
from switchboard.presence import announce
from switchboard.runtime import Runtime


def disconnect(event: WebSocketEvent, rt: Runtime) -> Response:
    removed = rt.store.remove_connection(event.connection_id)
    if removed is not None:
        broadcaster = rt.broadcaster(event.management_endpoint())
        for room in sorted(removed.rooms):
            announce(broadcaster, "left", room, removed)
    return Response()


handler = websocket_handler(disconnect)
