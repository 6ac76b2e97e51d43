"""Sending to rooms and to users: what the WebSocket actions and the HTTP API share.

A sender is whoever the envelope's `from` names: a connection, or a backend service. The
message is stored in the room's history while the fan-out runs, so history costs the send
path one concurrent PutItem, not an extra round trip.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from switchboard.broadcast import FanoutResult
from switchboard.protocol import (
    MAX_ROOM_MESSAGE_BYTES,
    encode_deliverable,
    new_message_id,
    now_ms,
)
from switchboard.runtime import Runtime

log = logging.getLogger("switchboard.messaging")


@dataclass(frozen=True)
class Sent:
    message: dict[str, Any]
    result: FanoutResult
    stored: bool

    @property
    def id(self) -> str:
        return str(self.message["id"])


def room_message(room: str, sender: dict[str, Any], data: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "room": room,
        "from": sender,
        "data": data,
        "id": new_message_id(),
        "ts": now_ms(),
    }


def send_to_room(
    rt: Runtime,
    endpoint: str,
    room: str,
    sender: dict[str, Any],
    data: Any,
    *,
    exclude: str | None = None,
) -> Sent:
    """Deliver to every member (but `exclude`) and store it in the room's history."""
    message = room_message(room, sender, data)
    payload = encode_deliverable(message, MAX_ROOM_MESSAGE_BYTES)
    storing = rt.in_background(lambda: rt.history.append(message))
    try:
        result = rt.broadcaster(endpoint).to_room(room, payload, sender=exclude)
    except Exception:
        # The caller is told the send failed (and may send it again): the room's history
        # must not keep a copy of it.
        _take_back(rt, storing, message)
        raise
    try:
        storing.result()
        stored = rt.history.enabled
    except Exception:
        # Delivered but not kept: say so in the reply rather than fail the send.
        log.exception("could not store the message in history", extra={"room": room})
        stored = False
    return Sent(message, result, stored)


def _take_back(rt: Runtime, storing: Future[None], message: dict[str, Any]) -> None:
    try:
        storing.result()
    except Exception:
        return  # never stored
    try:
        rt.history.remove(message)
    except Exception:
        # Best effort: it expires with the room's retention.
        log.exception(
            "could not take a failed send out of history", extra={"room": message["room"]}
        )


def send_to_user(
    rt: Runtime,
    endpoint: str,
    user_id: str,
    sender: dict[str, Any],
    data: Any,
    *,
    exclude: str | None = None,
) -> tuple[Sent, int]:
    """Deliver a direct message to every connection of a user; and how many there were."""
    message = {
        "type": "direct",
        "from": sender,
        "to": user_id,
        "data": data,
        "id": new_message_id(),
        "ts": now_ms(),
    }
    payload = encode_deliverable(message)
    recipients = [cid for cid in rt.store.user_connection_ids(user_id) if cid != exclude]
    if not recipients:
        return Sent(message, FanoutResult(), False), 0
    result = rt.broadcaster(endpoint).send(recipients, payload, sender=exclude)
    return Sent(message, result, False), len(recipients)
