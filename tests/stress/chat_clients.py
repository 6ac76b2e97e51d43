"""Clients of the real chat for the stress runs: one reader task per client sorts its frames.

A client makes one request at a time; the reader hands the next reply to it, records every
room message it receives (id, sender, the sender's sequence number) and the presence
frames, so that many clients can send and receive at once without losing a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from switchboard.local.dev_secret import dev_secret
from switchboard.tokens import mint
from tests.integration.local_gateway import REPO
from tests.integration.ws_clients import client, url

REPLY_SECONDS = 60.0
#: Replies are the only frames of these types.
_REPLY_TYPES = {"sent", "rooms", "members", "history", "error"}


def user_token(user_id: str, name: str) -> str:
    """A token for the real chat, signed with the checkout's development secret."""
    return mint(
        dev_secret(REPO),
        subject=user_id,
        name=name,
        issuer="switchboard",
        audience="switchboard",
        ttl_seconds=3600,
    )


@dataclass(frozen=True)
class Delivery:
    message_id: str
    sender: str
    seq: int
    room: str


@dataclass
class ChatClient:
    """One guest of the chat and everything it received."""

    ws: ClientConnection
    label: str
    connection_id: str | None = None
    room: str | None = None
    received: list[Delivery] = field(default_factory=list)
    #: (type, connectionId) of each `joined` and `left` about others.
    presence: list[tuple[str, str]] = field(default_factory=list)
    unexpected: list[Any] = field(default_factory=list)
    _reply: asyncio.Future[dict[str, Any]] | None = None
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, stage_url: str, label: str, *, user_id: str | None = None, open_timeout: float = 60
    ) -> ChatClient:
        """A guest named `label`, or with `user_id` that user (a token signed locally)."""
        query = {"name": label} if user_id is None else {"token": user_token(user_id, label)}
        ws = await client(url(stage_url, **query), open_timeout=open_timeout)
        chat = cls(ws, label)
        chat._reader = asyncio.get_running_loop().create_task(chat._read())
        return chat

    @property
    def open_now(self) -> bool:
        return self.ws.protocol.state.name == "OPEN"

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                self._sort(json.loads(raw))
        if self._reply is not None and not self._reply.done():
            self._reply.set_exception(ConnectionError(f"{self.label}: connection closed"))

    def _sort(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message":
            data = frame.get("data") or {}
            self.received.append(
                Delivery(
                    str(frame.get("id")),
                    str(frame.get("from", {}).get("connectionId")),
                    int(data.get("seq", -1)),
                    str(frame.get("room")),
                )
            )
            return
        is_reply = (
            kind in _REPLY_TYPES
            or kind is None  # API Gateway's own frames: {"message": "Internal server error",...}
            or (kind == "joined" and "messages" in frame)
            or (kind == "left" and frame.get("connectionId") == self.connection_id)
        )
        if not is_reply:
            self.presence.append((str(kind), str(frame.get("connectionId"))))
        elif self._reply is not None and not self._reply.done():
            self._reply.set_result(frame)
        else:
            self.unexpected.append(frame)

    async def request(self, message: dict[str, Any], timeout: float = REPLY_SECONDS) -> Any:
        assert self._reply is None or self._reply.done(), "one request at a time"
        self._reply = asyncio.get_running_loop().create_future()
        await self.ws.send(json.dumps(message))
        return await asyncio.wait_for(self._reply, timeout)

    async def enter(self, room: str) -> None:
        """Join the room (learning the connection id), then leave the lobby.

        Everyone starts in the lobby; leaving it keeps the lobby small, so that a client
        coming or going tells its own room and not every connection there is.
        """
        joined = await self.request({"action": "join", "room": room})
        assert joined.get("type") == "joined", f"{self.label}: join answered {joined}"
        self.connection_id = str(joined["connectionId"])
        left = await self.request({"action": "leave", "room": "lobby"})
        assert left.get("type") == "left", f"{self.label}: leave answered {left}"
        self.room = room

    async def send(
        self, seq: int, room: str | None = None, timeout: float = REPLY_SECONDS
    ) -> dict[str, Any]:
        """Send `{"seq": seq}` to the room (default: the one entered); the reply."""
        target = room or self.room
        assert target is not None
        reply: dict[str, Any] = await self.request(
            {"action": "sendmessage", "room": target, "data": {"seq": seq}}, timeout
        )
        return reply

    async def close(self) -> None:
        await self.ws.close()
        await self._stopped()

    async def drop(self) -> None:
        """Lose the connection: a TCP reset, no close frame."""
        transport = self.ws.transport
        transport.abort()
        await self._stopped()

    async def _stopped(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 10)

    def duplicates(self) -> int:
        """Messages received more than once (each extra copy counts)."""
        counts = Counter(d.message_id for d in self.received)
        return sum(n - 1 for n in counts.values() if n > 1)

    def out_of_order(self) -> int:
        """Messages that arrived after a later one of the same sender."""
        last: dict[str, int] = {}
        wrong = 0
        for delivery in self.received:
            if delivery.seq <= last.get(delivery.sender, -1):
                wrong += 1
            last[delivery.sender] = max(delivery.seq, last.get(delivery.sender, -1))
        return wrong
