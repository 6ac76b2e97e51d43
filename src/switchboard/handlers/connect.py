"""`$connect`: record the connection, its user and its membership of the lobby.

Who connects comes from the authorizer (`requestContext.authorizer`); a client's own claims
(`?name=` included) count only for anonymous guests, who get the user id
`guest:{connectionId}` and the name they ask for or a generated one.
"""

from __future__ import annotations

from switchboard.errors import BadRequest
from switchboard.events import WebSocketEvent
from switchboard.handlers.invocation import Response, log, websocket_handler
from switchboard.identity import GUEST_PREFIX, Identity
from switchboard.protocol import DEFAULT_ROOM, guest_name, now_ms, validate_name
from switchboard.runtime import Runtime
from switchboard.store import Connection


def connect(event: WebSocketEvent, rt: Runtime) -> Response:
    identity = Identity.from_context(event.authorizer)
    if identity.anonymous:
        raw_name = event.query_string_parameters.get("name")
        try:
            name = validate_name(raw_name) if raw_name is not None else guest_name()
        except BadRequest as error:
            # A non-2xx answer from $connect rejects the handshake with that status.
            return Response({"message": str(error)}, 400)
        user_id = f"{GUEST_PREFIX}{event.connection_id}"
    else:
        user_id = str(identity.user_id)
        name = identity.name or user_id[:32]
    connected_at = event.connected_at or now_ms()
    connection = Connection(
        connection_id=event.connection_id,
        name=name,
        connected_at=connected_at,
        # DynamoDB TTL is in SECONDS; connectedAt is in milliseconds.
        expires_at=connected_at // 1000 + rt.config.connection_ttl_seconds,
        user_id=user_id,
        source_ip=event.source_ip,
        user_agent=event.user_agent,
        rooms=frozenset({DEFAULT_ROOM}),
        recorded_at=now_ms(),
    )
    try:
        rt.store.add_connection(connection)
    except Exception:
        # Refuse the handshake rather than accept a connection nobody can reach.
        log.exception("could not record connection", extra={"connectionId": event.connection_id})
        return Response({"message": "could not record the connection"}, 500)
    return Response()


handler = websocket_handler(connect)
