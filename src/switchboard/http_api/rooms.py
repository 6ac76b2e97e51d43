"""Reading rooms: which have members, who is in one, and its history.

Rooms exist only while someone is in them, so a room nobody is in is not an error: its
member list and its history are empty (as after everyone left). A service is trusted with
every room, private ones included.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from switchboard.history import MAX_PAGE
from switchboard.http_api.auth import ServiceCaller
from switchboard.http_api.error_replies import documented
from switchboard.http_api.parameters import CurrentRuntime, RoomName
from switchboard.http_api.schemas import HistoryPage, Member, MemberList, RoomList, RoomMessage

router = APIRouter(tags=["rooms"])


@router.get(
    "/rooms",
    response_model=RoomList,
    responses=documented(401, 403, 503),
    summary="Rooms with members now",
)
def list_rooms(service: ServiceCaller, rt: CurrentRuntime) -> RoomList:
    return RoomList(rooms=rt.room_index.rooms())


@router.get(
    "/rooms/{room}/members",
    response_model=MemberList,
    responses=documented(401, 403, 422, 503),
    summary="Who is in a room",
    description="One entry per user, with how many of their connections are in the room.",
)
def list_members(room: RoomName, service: ServiceCaller, rt: CurrentRuntime) -> MemberList:
    members = [
        Member(name=m.name, userId=m.user_id, connections=m.connections)
        for m in rt.store.room_members(room)
    ]
    return MemberList(room=room, members=members)


@router.get(
    "/rooms/{room}/history",
    response_model=HistoryPage,
    # Senders carry only the fields they have (`guest`, `service`, `connectionId`).
    response_model_exclude_unset=True,
    responses=documented(401, 403, 422, 503),
    summary="A page of a room's messages",
    description="Up to `limit` messages older than `before`, oldest first. Pass `next` as "
    "`before` to page further back.",
)
def room_history(
    room: RoomName,
    service: ServiceCaller,
    rt: CurrentRuntime,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Messages per page.")] = 50,
    before: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=512,
            description="A `next` cursor from an earlier page of this room.",
        ),
    ] = None,
) -> HistoryPage:
    page = rt.history.page(room, limit, before)
    return HistoryPage(
        room=room,
        messages=[RoomMessage.model_validate(message) for message in page.messages],
        next=page.next,
    )
