"""Pushing from a backend: to every member of a room, or to every connection of a user.

Both go through `switchboard.messaging`, the code the WebSocket `sendmessage` and `sendto`
actions use: the same envelope, size limit, concurrent fan-out, pruning of stale
connections and room history. The sender is the calling service, marked `"service": true`.
"""

from __future__ import annotations

from fastapi import APIRouter

from switchboard.errors import NotFound
from switchboard.http_api.auth import ServiceCaller
from switchboard.http_api.error_replies import documented
from switchboard.http_api.parameters import CurrentRuntime, ManagementEndpoint, RoomName, UserId
from switchboard.http_api.schemas import MessageIn, SentToRoom, SentToUser
from switchboard.messaging import send_to_room, send_to_user

router = APIRouter(tags=["messages"])


@router.post(
    "/rooms/{room}/messages",
    response_model=SentToRoom,
    responses=documented(401, 403, 413, 422, 503),
    summary="Send to every member of a room",
    description="Delivered to each connection in the room as "
    '`{"type":"message","room","from","data","id","ts"}` and kept in the room\'s history. '
    "A service may send to any room, private ones included; a room nobody is in is "
    "valid (delivered to 0).",
)
def post_to_room(
    room: RoomName,
    message: MessageIn,
    service: ServiceCaller,
    rt: CurrentRuntime,
    endpoint: ManagementEndpoint,
) -> SentToRoom:
    sent = send_to_room(rt, endpoint, room, service.sender(), message.data)
    return SentToRoom(
        id=sent.id,
        room=room,
        ts=int(sent.message["ts"]),
        delivered=sent.result.delivered,
        pruned=sent.result.pruned,
        failed=sent.result.failed,
        stored=sent.stored,
    )


@router.post(
    "/users/{userId}/messages",
    response_model=SentToUser,
    responses=documented(401, 403, 404, 413, 422, 503),
    summary="Send to every connection of a user",
    description='Delivered as `{"type":"direct","from","to","data","id","ts"}`; not kept in '
    "any history. 404 when the user has no connection.",
)
def post_to_user(
    # The token first: FastAPI resolves dependencies in order, and a caller without one
    # must learn nothing more than 401 (not even that the user id is malformed).
    service: ServiceCaller,
    user_id: UserId,
    message: MessageIn,
    rt: CurrentRuntime,
    endpoint: ManagementEndpoint,
) -> SentToUser:
    sent, recipients = send_to_user(rt, endpoint, user_id, service.sender(), message.data)
    if recipients == 0:
        raise NotFound(f'user "{user_id}" is not connected')
    return SentToUser(
        id=sent.id,
        to=user_id,
        ts=int(sent.message["ts"]),
        delivered=sent.result.delivered,
        pruned=sent.result.pruned,
        failed=sent.result.failed,
    )
