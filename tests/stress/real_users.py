"""Users of the real chat for the tests against a gateway: real tokens, real sockets.

Tokens are signed with the checkout's development secret, which `switchboard local` puts in
its Secrets Manager for the template's authorizer, so they are exactly what a deployed
stack's backend would mint. Every name and room is unique per test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection

from switchboard.local.dev_secret import dev_secret
from switchboard.tokens import mint
from tests.integration.local_gateway import REPO, LocalGateway
from tests.integration.ws_clients import client, receive_json, url
from tests.stress.real_chat import enter

ISSUER = AUDIENCE = "switchboard"
SECRET = dev_secret(REPO)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def token(user_id: str, name: str, rooms: tuple[str, ...] = (), **options: Any) -> str:
    settings: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "ttl_seconds": 600,
        **options,
    }
    return mint(SECRET, subject=user_id, name=name, rooms=rooms, **settings)


@dataclass
class User:
    """One open connection, entered into a room of its own choosing (and out of the lobby)."""

    ws: ClientConnection
    connection_id: str
    name: str
    user_id: str

    @property
    def sender(self) -> dict[str, Any]:
        """What the chat must put in `from` of what this connection sends."""
        sender: dict[str, Any] = {
            "connectionId": self.connection_id,
            "name": self.name,
            "userId": self.user_id,
        }
        if self.user_id.startswith("guest:"):
            sender["guest"] = True
        return sender

    async def request(self, message: dict[str, Any]) -> Any:
        await self.ws.send(json.dumps(message))
        return await receive_json(self.ws)


@asynccontextmanager
async def connected(
    gateway: LocalGateway,
    room: str,
    *,
    user_id: str | None = None,
    name: str,
    rooms: tuple[str, ...] = (),
    extra_query: dict[str, str] | None = None,
) -> AsyncIterator[User]:
    """A user with a token (`user_id`), or a guest named `name`; plus `extra_query`."""
    own = {"token": token(user_id, name, rooms)} if user_id is not None else {"name": name}
    async with client(url(gateway.stage_url, **{**(extra_query or {}), **own})) as ws:
        connection_id = await enter(ws, room)
        yield User(ws, connection_id, name, user_id or f"guest:{connection_id}")
