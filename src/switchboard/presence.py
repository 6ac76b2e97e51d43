"""`joined` and `left` notifications to a room's other members."""

from __future__ import annotations

from typing import Any, Literal

from switchboard.broadcast import Broadcaster, FanoutResult
from switchboard.protocol import encode
from switchboard.store import Connection


def presence_event(kind: Literal["joined", "left"], room: str, who: Connection) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": kind,
        "room": room,
        "name": who.name,
        "connectionId": who.connection_id,
    }
    if who.user_id:
        event["userId"] = who.user_id
    return event


def announce(
    broadcaster: Broadcaster, kind: Literal["joined", "left"], room: str, who: Connection
) -> FanoutResult:
    payload = encode(presence_event(kind, room, who))
    return broadcaster.to_room(room, payload, sender=who.connection_id)
