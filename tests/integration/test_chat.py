"""The real chat, end to end: template.yaml's functions behind the local gateway.

Every frame each client receives is checked, in order, against the protocol (issue 2, and
the fields the README adds since: `userId`/`guest` of anonymous guests, `failed` in `sent`,
a room's recent `messages` in the `join` reply). Clients connect as anonymous guests, which
the local stack allows by default.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from switchboard.protocol import ACTIONS
from tests.integration.async_test import async_test
from tests.integration.aws_clients import dynamodb_client
from tests.integration.chat_app import (
    connection_id_of,
    guest_records,
    records_of,
    wait_until_gone,
    wait_until_no_connections,
    wait_until_quiet,
)
from tests.integration.local_gateway import LocalGateway
from tests.integration.ws_clients import client, receive_json, request, send_json, url

MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
def quiet(chat_gateway: LocalGateway) -> None:
    wait_until_quiet(chat_gateway)
    wait_until_no_connections(dynamodb_client(chat_gateway.dynamodb_endpoint))


def check_sent(reply: dict[str, Any], room: str, delivered: int) -> str:
    """The sender's `sent` reply; returns the message id."""
    assert set(reply) == {"type", "id", "room", "delivered", "pruned", "failed"}, reply
    assert (reply["type"], reply["room"], reply["delivered"], reply["pruned"], reply["failed"]) == (
        "sent",
        room,
        delivered,
        0,
        0,
    )
    assert MESSAGE_ID.match(reply["id"])
    return str(reply["id"])


def guest(connection_id: str, name: str) -> dict[str, Any]:
    """How an anonymous guest appears in `from`."""
    return {
        "connectionId": connection_id,
        "name": name,
        "userId": f"guest:{connection_id}",
        "guest": True,
    }


def check_message(
    frame: dict[str, Any], *, room: str, sender: str, name: str, data: Any, message_id: str
) -> None:
    assert set(frame) == {"type", "room", "from", "data", "id", "ts"}, frame
    assert frame["type"] == "message"
    assert frame["room"] == room
    assert frame["from"] == guest(sender, name)
    assert frame["data"] == data
    assert frame["id"] == message_id
    assert abs(frame["ts"] - time.time() * 1000) < 10_000


def presence(kind: str, room: str, name: str, connection_id: str) -> dict[str, Any]:
    return {"type": kind, "room": room, **guest(connection_id, name)}


def joined_reply(room: str, name: str, connection_id: str) -> dict[str, Any]:
    """The `join` reply: the presence event, plus the room's recent messages (none yet)."""
    return {**presence("joined", room, name, connection_id), "messages": [], "next": None}


async def nothing_pending(ws: ClientConnection) -> None:
    """No stray frame is queued: the next frame is the answer to a fresh request."""
    reply = await request(ws, {"action": "no-such-action"})
    assert reply["error"] == "unknown_action", reply


@async_test(timeout=60)
async def test_alice_and_bob_chat_in_the_lobby_and_a_room(chat_gateway: LocalGateway) -> None:
    dynamodb = dynamodb_client(chat_gateway.dynamodb_endpoint)
    room = f"room-{uuid.uuid4().hex[:8]}"
    async with (
        client(url(chat_gateway.stage_url, name="alice")) as alice,
        client(url(chat_gateway.stage_url, name="bob")) as bob,
    ):
        a = await asyncio.to_thread(connection_id_of, dynamodb, "alice")
        b = await asyncio.to_thread(connection_id_of, dynamodb, "bob")
        for connection_id in (a, b):
            assert await asyncio.to_thread(records_of, dynamodb, connection_id) == guest_records(
                connection_id
            )

        # The aws-samples simple-websockets-chat-app usage, unchanged: the lobby.
        message_id = check_sent(
            await request(alice, {"action": "sendmessage", "data": "hello"}), "lobby", 1
        )
        check_message(
            await receive_json(bob),
            room="lobby",
            sender=a,
            name="alice",
            data="hello",
            message_id=message_id,
        )

        # Alice joins a room nobody is in: only her reply.
        assert await request(alice, {"action": "join", "room": room}) == joined_reply(
            room, "alice", a
        )
        # Bob joins: his reply, and Alice hears it.
        assert await request(bob, {"action": "join", "room": room}) == joined_reply(room, "bob", b)
        assert await receive_json(alice) == presence("joined", room, "bob", b)

        data = {"text": "h\u00e9llo", "list": [1, 2.5, None, True]}
        message_id = check_sent(
            await request(bob, {"action": "sendmessage", "room": room, "data": data}), room, 1
        )
        check_message(
            await receive_json(alice),
            room=room,
            sender=b,
            name="bob",
            data=data,
            message_id=message_id,
        )

        # Bob leaves the room: his reply, and Alice hears it; then the room is Alice's alone.
        assert await request(bob, {"action": "leave", "room": room}) == presence(
            "left", room, "bob", b
        )
        assert await receive_json(alice) == presence("left", room, "bob", b)
        check_sent(
            await request(alice, {"action": "sendmessage", "room": room, "data": 1}), room, 0
        )

        # Sending to a room one is not in is refused.
        refused = await request(bob, {"action": "sendmessage", "room": room, "data": "hi"})
        assert (refused["type"], refused["error"]) == ("error", "forbidden")

        await nothing_pending(alice)
        await nothing_pending(bob)

        # Bob disconnects: Alice hears he left the lobby, his records are gone.
        await bob.close()
        assert await receive_json(alice) == presence("left", "lobby", "bob", b)
        await wait_until_gone(dynamodb, b)
        await nothing_pending(alice)
        assert await asyncio.to_thread(records_of, dynamodb, a) == guest_records(a, ("lobby", room))
    await wait_until_gone(dynamodb, a)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{"action": "dance"}', "unknown_action"),
        ('{"data": "no action"}', "unknown_action"),
        ("hello, is anyone there?", "invalid_json"),
        ("[1, 2]", "bad_request"),
    ],
)
@async_test()
async def test_default_route_explains_what_it_accepts(
    chat_gateway: LocalGateway, body: str, error: str
) -> None:
    async with client(url(chat_gateway.stage_url, name="eve")) as ws:
        await ws.send(body)
        reply = await receive_json(ws)
    assert set(reply) == {"type", "error", "message", "actions"}
    assert (reply["type"], reply["error"], reply["actions"]) == ("error", error, list(ACTIONS))
    assert isinstance(reply["message"], str) and reply["message"]


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"action": "join"}, "room"),
        ({"action": "join", "room": "bad room!"}, "room"),
        ({"action": "join", "room": 7}, "room"),
        ({"action": "sendmessage"}, "data"),
    ],
)
@async_test()
async def test_bad_fields_get_bad_request(
    chat_gateway: LocalGateway, message: dict[str, Any], field: str
) -> None:
    async with client(url(chat_gateway.stage_url, name="eve")) as ws:
        reply = await request(ws, message)
    assert (reply["type"], reply["error"]) == ("error", "bad_request")
    assert f'"{field}"' in reply["message"]


@async_test()
async def test_invalid_display_name_refuses_the_handshake(chat_gateway: LocalGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with client(url(chat_gateway.stage_url, name="x" * 33)):
            pass
    assert refused.value.response.status_code == 400


@async_test()
async def test_guest_name_when_none_is_given(chat_gateway: LocalGateway) -> None:
    dynamodb = dynamodb_client(chat_gateway.dynamodb_endpoint)
    async with (
        client(chat_gateway.stage_url) as ws,
        client(url(chat_gateway.stage_url, name="watcher")) as watcher,
    ):
        await send_json(ws, {"action": "sendmessage", "data": "hi"})
        frame = await receive_json(watcher)
        await receive_json(ws)  # the sender's `sent`
    assert re.fullmatch(r"guest-[0-9a-f]{6}", frame["from"]["name"])
    await wait_until_gone(dynamodb, frame["from"]["connectionId"])
