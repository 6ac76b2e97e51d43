"""The chat product end to end (issue 4): tokens, presence, private rooms, direct messages,
history, and every way a handshake is refused, through the local gateway with real clients.

Tokens are real: signed with the checkout's development secret, which `switchboard local`
puts in its Secrets Manager for the template's authorizer. Each test uses user ids and room
names of its own and starts once every earlier connection's `$disconnect` has run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from switchboard.local.dev_secret import dev_secret
from switchboard.tokens import mint
from tests.integration.async_test import async_test
from tests.integration.aws_clients import dynamodb_client
from tests.integration.chat_app import (
    TABLE,
    connection_keys,
    invocations,
    wait_until_no_connections,
    wait_until_quiet,
)
from tests.integration.local_gateway import (
    APP_TEMPLATE,
    AUTHORIZER_REFUSAL,
    REPO,
    LocalGateway,
    running_gateway,
)
from tests.integration.ws_clients import client, receive_json, request, url
from tests.support.dynamodb import items

ISSUER = AUDIENCE = "switchboard"
SECRET = dev_secret(REPO)
MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
def quiet(chat_gateway: LocalGateway) -> None:
    wait_until_quiet(chat_gateway)
    wait_until_no_connections(dynamodb_client(chat_gateway.dynamodb_endpoint))


def refusing_gateway(stderr_path: Path, *flags: str) -> AbstractContextManager[LocalGateway]:
    """The real app in a gateway of this module's own, stopped with Ctrl-C and checked.

    Refused handshakes leave the authorizer's `Unauthorized` tracebacks in the gateway's
    stderr, which the shared session gateway's check counts as bugs; so the refusals run here,
    where exactly those are expected and any other traceback still fails.
    """
    return running_gateway(APP_TEMPLATE, stderr_path, *flags, expected_traceback=AUTHORIZER_REFUSAL)


@pytest.fixture(scope="module")
def guarded_gateway(logs_dir: Path) -> Iterator[LocalGateway]:
    """The real app as `switchboard local` runs it by default: guests allowed."""
    with refusing_gateway(logs_dir / "chat-guarded.stderr") as gateway:
        yield gateway


@pytest.fixture(scope="module")
def locked_gateway(logs_dir: Path) -> Iterator[LocalGateway]:
    """The real app as deployed stacks run it: no guests."""
    with refusing_gateway(
        logs_dir / "chat-locked.stderr", "--parameter-overrides", "AllowAnonymous=false"
    ) as gateway:
        yield gateway


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


def with_token(gateway: LocalGateway, signed: str) -> str:
    return url(gateway.stage_url, token=signed)


def bearer(gateway: LocalGateway, signed: str) -> Any:
    return client(gateway.stage_url, additional_headers={"Authorization": f"Bearer {signed}"})


def presence(kind: str, room: str, user_id: str, name: str, connection_id: str) -> dict[str, Any]:
    return {
        "type": kind,
        "room": room,
        "name": name,
        "connectionId": connection_id,
        "userId": user_id,
    }


def forbidden(room: str) -> dict[str, Any]:
    return {"type": "error", "error": "forbidden", "message": f'you may not enter room "{room}"'}


async def nothing_pending(ws: ClientConnection) -> None:
    """No stray frame is queued: the next frame is the answer to a fresh request."""
    reply = await request(ws, {"action": "no-such-action"})
    assert reply["error"] == "unknown_action", reply


async def join(ws: ClientConnection, room: str) -> dict[str, Any]:
    reply: dict[str, Any] = await request(ws, {"action": "join", "room": room})
    assert reply["type"] == "joined", reply
    return reply


async def whoami(ws: ClientConnection) -> tuple[str, str, str]:
    """(userId, name, connectionId) as the app sees this connection: from a join reply."""
    reply = await join(ws, unique("whoami"))
    return reply["userId"], reply["name"], reply["connectionId"]


def meta_items(gateway: LocalGateway) -> list[dict[str, Any]]:
    dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
    return [
        item
        for item in items(dynamodb, TABLE)
        if item["PK"]["S"].startswith("CONN#") and item["SK"]["S"] == "META"
    ]


# ---------------------------------------------------------------- identity and presence


@async_test(timeout=30)
async def test_query_and_header_tokens_and_presence_once_per_user(
    chat_gateway: LocalGateway,
) -> None:
    user, name = unique("u"), unique("Ulla")
    watcher_id, watcher_name = unique("w"), unique("Walt")
    room = unique("room")
    signed = token(user, name)
    async with client(with_token(chat_gateway, token(watcher_id, watcher_name))) as watcher:
        await join(watcher, room)
        async with client(with_token(chat_gateway, signed)) as first:
            # The first connection of the user joining: the others hear it.
            reply = await join(first, room)
            first_id = reply["connectionId"]
            assert reply == {
                **presence("joined", room, user, name, first_id),
                "messages": [],
                "next": None,
            }
            assert await receive_json(watcher) == presence("joined", room, user, name, first_id)

            async with bearer(chat_gateway, signed) as second:
                # The header token is the same user (not a guest).
                reply = await join(second, room)
                second_id = reply["connectionId"]
                assert second_id != first_id
                assert reply == {
                    **presence("joined", room, user, name, second_id),
                    "messages": [],
                    "next": None,
                }
                # ...but the user was already there: no second `joined`.
                await nothing_pending(watcher)

                members = await request(watcher, {"action": "members", "room": room})
                assert members["type"] == "members"
                assert sorted(members["members"], key=lambda m: str(m["userId"])) == sorted(
                    [
                        {"name": name, "userId": user, "connections": 2},
                        {"name": watcher_name, "userId": watcher_id, "connections": 1},
                    ],
                    key=lambda m: str(m["userId"]),
                )

                # One connection leaves: the user is still there, nobody hears of it.
                assert await request(first, {"action": "leave", "room": room}) == presence(
                    "left", room, user, name, first_id
                )
                await nothing_pending(watcher)
                # The last one leaves: now the others hear it, once.
                assert await request(second, {"action": "leave", "room": room}) == presence(
                    "left", room, user, name, second_id
                )
                assert await receive_json(watcher) == presence("left", room, user, name, second_id)
                await nothing_pending(watcher)

                # Disconnects in the lobby: the first goes silently...
                await first.close()
                await asyncio.sleep(0.5)
                await nothing_pending(watcher)
            # ...the last one is heard.
            assert await receive_json(watcher) == presence("left", "lobby", user, name, second_id)
            await nothing_pending(watcher)


@async_test()
async def test_identity_fields_sent_by_the_client_are_ignored(
    chat_gateway: LocalGateway,
) -> None:
    user, name = unique("u"), unique("Mallory")
    room = unique("room")
    async with (
        client(with_token(chat_gateway, token(user, name))) as mallory,
        client(with_token(chat_gateway, token(unique("w"), unique("Wendy")))) as watcher,
    ):
        _, _, mallory_id = await whoami(mallory)
        await join(watcher, room)
        await join(mallory, room)
        assert (await receive_json(watcher))["type"] == "joined"
        spoof = {"name": "admin", "userId": "admin", "connectionId": "admin", "guest": False}
        sent = await request(
            mallory,
            {
                "action": "sendmessage",
                "room": room,
                "data": "hi",
                "from": {"name": "admin", "userId": "admin"},
                **spoof,
            },
        )
        assert (sent["type"], sent["delivered"]) == ("sent", 1), sent
        frame = await receive_json(watcher)
        expected_from = {"connectionId": mallory_id, "name": name, "userId": user}
        assert frame["type"] == "message"
        assert frame["from"] == expected_from
        assert frame["data"] == "hi"
        history = await request(watcher, {"action": "history", "room": room, "limit": 5})
        assert [m["from"] for m in history["messages"]] == [expected_from]


# ---------------------------------------------------------------- private rooms


@async_test()
async def test_private_room_only_for_granted_users(chat_gateway: LocalGateway) -> None:
    room = "private:ops"
    granted, granted_name = unique("ops"), unique("Olga")
    other = unique("u")
    async with (
        client(with_token(chat_gateway, token(granted, granted_name, (room,)))) as olga,
        client(with_token(chat_gateway, token(other, unique("Nina"), ("private:other",)))) as nina,
        client(url(chat_gateway.stage_url, name=unique("g"))) as guest,
    ):
        reply = await join(olga, room)
        assert (reply["room"], reply["userId"]) == (room, granted)
        assert isinstance(reply["messages"], list)
        data = {"secret": unique("plan")}
        sent = await request(olga, {"action": "sendmessage", "room": room, "data": data})
        assert (sent["type"], sent["room"], sent["delivered"]) == ("sent", room, 0), sent
        members = await request(olga, {"action": "members", "room": room})
        assert members == {
            "type": "members",
            "room": room,
            "members": [{"name": granted_name, "userId": granted, "connections": 1}],
        }
        history = await request(olga, {"action": "history", "room": room, "limit": 10})
        assert history["type"] == "history" and history["room"] == room
        assert history["messages"][-1]["id"] == sent["id"]
        assert history["messages"][-1]["data"] == data

        for outsider in (nina, guest):
            for target in (room, "private:nope"):
                for action in ("join", "members", "history"):
                    answer = await request(outsider, {"action": action, "room": target})
                    assert answer == forbidden(target), (action, target, answer)
            refused = await request(
                outsider, {"action": "sendmessage", "room": room, "data": "let me in"}
            )
            assert (refused["type"], refused["error"]) == ("error", "forbidden"), refused
            rooms = await request(outsider, {"action": "rooms"})
            assert rooms == {"type": "rooms", "rooms": ["lobby"]}

        # Olga heard nothing of them, and is still alone in the room.
        await nothing_pending(olga)
        assert await request(olga, {"action": "members", "room": room}) == members


# ---------------------------------------------------------------- direct messages


@async_test()
async def test_direct_message_reaches_every_connection_of_the_user(
    chat_gateway: LocalGateway,
) -> None:
    target, target_name = unique("t"), unique("Tara")
    sender, sender_name = unique("s"), unique("Sam")
    target_token = token(target, target_name)
    async with (
        client(with_token(chat_gateway, token(sender, sender_name))) as sam,
        client(with_token(chat_gateway, target_token)) as tara_1,
        bearer(chat_gateway, target_token) as tara_2,
    ):
        _, _, sam_id = await whoami(sam)
        data = {"text": "psst", "n": [1, 2]}
        sent = await request(sam, {"action": "sendto", "to": target, "data": data})
        assert set(sent) == {"type", "to", "id", "delivered", "pruned", "failed"}, sent
        assert (sent["type"], sent["to"], sent["delivered"], sent["pruned"], sent["failed"]) == (
            "sent",
            target,
            2,
            0,
            0,
        )
        assert MESSAGE_ID.match(sent["id"])
        for ws in (tara_1, tara_2):
            frame = await receive_json(ws)
            assert set(frame) == {"type", "from", "to", "data", "id", "ts"}, frame
            assert frame["type"] == "direct"
            assert frame["from"] == {"connectionId": sam_id, "name": sender_name, "userId": sender}
            assert (frame["to"], frame["data"], frame["id"]) == (target, data, sent["id"])
            assert abs(frame["ts"] - time.time() * 1000) < 10_000
            await nothing_pending(ws)

        missing = await request(sam, {"action": "sendto", "to": unique("nobody"), "data": "hi"})
        assert (missing["type"], missing["error"]) == ("error", "not_found"), missing
        await nothing_pending(sam)


# ---------------------------------------------------------------- history


@async_test(timeout=40)
async def test_history_on_join_and_paginated(chat_gateway: LocalGateway) -> None:
    room, other_room = unique("hist"), unique("hist")
    async with (
        client(with_token(chat_gateway, token(unique("p"), unique("Pia")))) as pia,
        client(with_token(chat_gateway, token(unique("j"), unique("Jo")))) as jo,
    ):
        await join(pia, room)
        ids = []
        for n in range(25):
            sent = await request(pia, {"action": "sendmessage", "room": room, "data": {"n": n}})
            assert sent["type"] == "sent", sent
            ids.append(sent["id"])
        assert len(set(ids)) == 25

        reply = await join(jo, room)
        assert [m["id"] for m in reply["messages"]] == ids[5:]
        assert [m["data"] for m in reply["messages"]] == [{"n": n} for n in range(5, 25)]
        assert (await receive_json(pia))["type"] == "joined"

        pages: list[list[str]] = []
        cursor: str | None = None
        first_cursor: str | None = None
        while True:
            ask: dict[str, Any] = {"action": "history", "room": room, "limit": 10}
            if cursor is not None:
                ask["before"] = cursor
            page = await request(jo, ask)
            assert (page["type"], page["room"]) == ("history", room), page
            pages.append([m["id"] for m in page["messages"]])
            cursor = page["next"]
            first_cursor = first_cursor or cursor
            if cursor is None:
                break
            assert len(pages) < 5, pages
        assert pages == [ids[15:], ids[5:15], ids[:5]]

        await join(jo, other_room)
        wrong = await request(
            jo, {"action": "history", "room": other_room, "limit": 10, "before": first_cursor}
        )
        assert (wrong["type"], wrong["error"]) == ("error", "bad_request"), wrong


# ---------------------------------------------------------------- refused handshakes


def _segment(part: dict[str, Any]) -> str:
    raw = json.dumps(part, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def bad_token(kind: str, user_id: str) -> str:
    now = int(time.time())
    claims = {"sub": user_id, "name": user_id, "iss": ISSUER, "aud": AUDIENCE}
    if kind == "forged":
        return mint("not-the-secret-" * 4, subject=user_id, name=user_id, issuer=ISSUER,
                    audience=AUDIENCE)  # fmt: skip
    if kind == "expired":
        return token(user_id, user_id, now=now - 7200, ttl_seconds=3600)
    if kind == "not_yet_valid":
        future = {**claims, "iat": now, "nbf": now + 3600, "exp": now + 7200}
        return jwt.encode(future, SECRET, algorithm="HS256")
    if kind == "wrong_issuer":
        return token(user_id, user_id, issuer="someone-else")
    if kind == "wrong_audience":
        return token(user_id, user_id, audience="someone-else")
    if kind == "alg_none":
        payload = {**claims, "iat": now, "nbf": now, "exp": now + 600}
        return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(payload)}."
    if kind == "garbage":
        return "this.is-not.a-token"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "forged",
        "expired",
        "not_yet_valid",
        "wrong_issuer",
        "wrong_audience",
        "alg_none",
        "garbage",
    ],
)
@pytest.mark.parametrize("carrier", ["query", "header"])
@async_test()
async def test_bad_token_refuses_the_handshake_and_writes_nothing(
    guarded_gateway: LocalGateway, kind: str, carrier: str
) -> None:
    user_id = unique("bad")
    signed = bad_token(kind, user_id)
    dynamodb = dynamodb_client(guarded_gateway.dynamodb_endpoint)
    await asyncio.to_thread(wait_until_no_connections, dynamodb)
    before = await asyncio.to_thread(meta_items, guarded_gateway)
    connects_before = invocations(guarded_gateway)[("$connect", "ok")]
    opening = (
        client(with_token(guarded_gateway, signed))
        if carrier == "query"
        else bearer(guarded_gateway, signed)
    )
    with pytest.raises(InvalidStatus) as refused:
        async with opening:
            pass
    assert refused.value.response.status_code == 401
    after = await asyncio.to_thread(meta_items, guarded_gateway)
    assert len(after) == len(before), after
    assert not [item for item in after if item.get("userId", {}).get("S") == user_id]
    assert not await asyncio.to_thread(connection_keys, dynamodb)
    assert invocations(guarded_gateway)[("$connect", "ok")] == connects_before


@async_test()
async def test_the_reference_tokens_are_accepted(guarded_gateway: LocalGateway) -> None:
    """The control for the refusals above: the same recipe, well made, connects."""
    user_id = unique("good")
    async with client(with_token(guarded_gateway, token(user_id, user_id))) as ws:
        assert (await whoami(ws))[0] == user_id
    now = int(time.time())
    claims = {"sub": user_id, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now}
    hand_made = jwt.encode({**claims, "exp": now + 600}, SECRET, algorithm="HS256")
    async with bearer(guarded_gateway, hand_made) as ws:
        assert (await whoami(ws))[0] == user_id


# ---------------------------------------------------------------- no guests


@async_test()
async def test_without_anonymous_guests_need_a_token(locked_gateway: LocalGateway) -> None:
    before = await asyncio.to_thread(meta_items, locked_gateway)
    for address in (locked_gateway.stage_url, url(locked_gateway.stage_url, name="guesty")):
        with pytest.raises(InvalidStatus) as refused:
            async with client(address):
                pass
        assert refused.value.response.status_code == 401
    assert len(await asyncio.to_thread(meta_items, locked_gateway)) == len(before)

    user_id, name = unique("u"), unique("Vera")
    async with client(with_token(locked_gateway, token(user_id, name))) as ws:
        assert await request(ws, {"action": "rooms"}) == {"type": "rooms", "rooms": ["lobby"]}
        assert (await whoami(ws))[:2] == (user_id, name)
        records = await asyncio.to_thread(meta_items, locked_gateway)
        assert [item["userId"]["S"] for item in records] == [user_id]
