"""`joined` and `left` notifications to a room's other members.

Presence is per user: a user with several connections joins a room with the first of them
and leaves it with the last, so the others see one `joined` and one `left`.
"""

from __future__ import annotations

from typing import Any, Literal

from switchboard.broadcast import Broadcaster, FanoutResult
from switchboard.protocol import encode
from switchboard.store import Connection, Store


def presence_event(kind: Literal["joined", "left"], room: str, who: Connection) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "room": room,
        "name": who.name,
        "connectionId": who.connection_id,
    }
    if who.user_id:
        event["userId"] = who.user_id
    if who.guest:
        event["guest"] = True
    return event


def announce(
    broadcaster: Broadcaster, kind: Literal["joined", "left"], room: str, who: Connection
) -> FanoutResult:
    payload = encode(presence_event(kind, room, who))
    return broadcaster.to_room(room, payload, sender=who.connection_id)


def announce_if_first_or_last(
    store: Store,
    broadcaster: Broadcaster,
    kind: Literal["joined", "left"],
    room: str,
    who: Connection,
    *,
    joined_at: int | None = None,
) -> FanoutResult | None:
    """Announce unless another connection of the same user is (still) in the room.

    For a join, give `joined_at` (the membership's stamp): then only a connection that
    joined before it keeps the announcement back, so of two joining at once, one announces.
    """
    if (
        who.user_id
        and not who.guest
        and store.user_in_room(
            who.user_id, room, excluding=who.connection_id, joined_before=joined_at
        )
    ):
        return None
    return announce(broadcaster, kind, room, who)
