"""Spoofing through the real gateway: who you are, what you may read, which room a cursor opens.

tests/integration/test_chat_product.py shows one fixed spoof, the private-room refusals and
a cursor refused in another room; tests/unit/handlers/test_chat.py the same in process. Here
the attacker tries harder, end to end with real tokens: any identity fields hypothesis draws
(and identity in the query string), a grant claimed in every place but the token, tokens
forged, expired or unsigned that carry the grant, a private room's cursor in other hands,
and a cursor relabelled to another room.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus

from switchboard.history import encode_cursor
from tests.integration.async_test import async_test
from tests.integration.aws_clients import dynamodb_client
from tests.integration.local_gateway import LocalGateway
from tests.integration.ws_clients import client, receive_json, url
from tests.plugins.stress_report import Record
from tests.stress.background_loop import BackgroundLoop
from tests.stress.hostile_values import json_values, spoofed_identity, utf8_safe
from tests.stress.property_run import recorded, scenario_row
from tests.stress.real_chat import keys
from tests.stress.real_users import AUDIENCE, ISSUER, SECRET, User, connected, token, unique

SPOOF_EXAMPLES = 20


def forbidden(room: str) -> dict[str, Any]:
    return {"type": "error", "error": "forbidden", "message": f'you may not enter room "{room}"'}


def not_in(room: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": "forbidden",
        "message": f'you are not in room "{room}": join it first',
    }


def bad_cursor(room: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": "bad_request",
        "message": f'"before" is not a history cursor of room "{room}"',
    }


async def send(user: User, room: str, data: Any) -> dict[str, Any]:
    sent: dict[str, Any] = await user.request({"action": "sendmessage", "room": room, "data": data})
    assert sent["type"] == "sent", sent
    return sent


# ------------------------------------------------------------------------------- identity


def test_identity_fields_anywhere_are_ignored(
    hostile_gateway: LocalGateway, stress_report: Record
) -> None:
    """Whatever identity a message or the query string claims, `from` is the token's."""
    loop = BackgroundLoop()
    room = unique("spoof")
    ada_id, bob_id = unique("u-ada"), unique("u-bob")
    # Identity in the query string too: a token user's and a guest's claims are both ignored.
    claims = {"userId": bob_id, "guest": "false", "connectionId": "AAAAAAAAAAAAAAA="}
    contexts = [
        connected(hostile_gateway, room, user_id=ada_id, name="Ada", extra_query=claims),
        connected(hostile_gateway, room, user_id=bob_id, name="Bob"),
        connected(hostile_gateway, room, name=unique("gus"), extra_query=claims),
    ]
    users: list[User] = [loop.run(context.__aenter__()) for context in contexts]
    ada, bob, gus = users
    # Each newcomer's arrival was announced to those already in the room.
    loop.run(drain_presence(ada, 2))
    loop.run(drain_presence(bob, 1))
    tried: Counter[str] = Counter()

    @settings(
        max_examples=SPOOF_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        spoof=spoofed_identity,
        data=json_values.filter(lambda v: utf8_safe(json.dumps(v, ensure_ascii=False))),
        sender=st.sampled_from(["user", "guest"]),
        direct=st.booleans(),
    )
    def run(spoof: dict[str, Any], data: Any, sender: str, direct: bool) -> None:
        source = ada if sender == "user" else gus
        loop.run(_spoof_once(source, [ada, bob, gus], room, spoof, data, direct))
        tried[f"{'sendto' if direct else 'sendmessage'} from a {sender}"] += 1

    try:
        recorded(
            stress_report,
            "identity spoofing",
            "from/userId/name/connectionId/guest/authorizer/requestContext/rooms in messages "
            "(any values), userId/guest/connectionId in the query string; user and guest senders",
            tried,
            run,
            extra=lambda: "every delivery's and the history's `from` was the token's identity",
        )
        history = loop.run(ada.request({"action": "history", "room": room, "limit": 100}))
        senders = {json.dumps(m["from"], sort_keys=True) for m in history["messages"]}
        assert senders <= {json.dumps(u.sender, sort_keys=True) for u in (ada, gus)}, senders
    finally:
        for context in reversed(contexts):
            loop.run(context.__aexit__(None, None, None))
        loop.close()


async def drain_presence(user: User, count: int) -> None:
    for _ in range(count):
        frame = await receive_json(user.ws)
        assert frame["type"] == "joined", frame


async def _spoof_once(
    source: User, everyone: list[User], room: str, spoof: dict[str, Any], data: Any, direct: bool
) -> None:
    others = [user for user in everyone if user is not source]
    if direct:
        target = others[0]
        message = {**spoof, "action": "sendto", "to": target.user_id, "data": data}
        receivers = [target]
    else:
        message = {**spoof, "action": "sendmessage", "room": room, "data": data}
        receivers = others
    sent = await source.request(message)
    assert (sent["type"], sent["delivered"], sent["failed"]) == ("sent", len(receivers), 0), sent
    for receiver in receivers:
        frame = await receive_json(receiver.ws)
        assert frame["type"] == ("direct" if direct else "message"), frame
        assert frame["from"] == source.sender, (spoof, frame)
        assert frame["data"] == data and frame["id"] == sent["id"], frame


# ------------------------------------------------------------------------------ private room


def forged_tokens(user_id: str, room: str) -> dict[str, str]:
    """Tokens that claim the grant and must not get a connection."""
    claims = {"sub": user_id, "name": "Eve", "rooms": [room], "iss": ISSUER, "aud": AUDIENCE}
    unsigned = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({**claims, "exp": 4102444800}).encode())
    return {
        "another secret": token(user_id, "Eve", (room,)).rsplit(".", 1)[0] + ".AAAA",
        "a guessed key": jwt.encode({**claims, "exp": 4102444800}, "guess-" * 8),
        "expired": token(user_id, "Eve", (room,), ttl_seconds=-120),
        "alg none": f"{unsigned.decode()}.{body.rstrip(b'=').decode()}.",
        "another audience": jwt.encode(
            {**claims, "aud": "someone-else", "exp": 4102444800}, SECRET, algorithm="HS256"
        ),
    }


@async_test(timeout=60)
async def test_a_private_room_gives_nothing_without_the_grant(
    hostile_gateway: LocalGateway, stress_report: Record
) -> None:
    room, nowhere, public = unique("private:ops"), unique("private:none"), unique("pub")
    tried: Counter[str] = Counter()
    dynamodb = dynamodb_client(hostile_gateway.dynamodb_endpoint)
    with scenario_row(stress_report, "private room without the grant", _PRIVATE_INJECTED) as row:
        async with (
            connected(
                hostile_gateway, room, user_id=unique("u-olga"), name="Olga", rooms=(room,)
            ) as olga,
            connected(hostile_gateway, public, user_id=unique("u-nina"), name="Nina") as nina,
            connected(
                hostile_gateway,
                public,
                user_id=unique("u-carl"),
                name="Carl",
                rooms=("private:other",),
                # A grant in the query string is no grant.
                extra_query={"rooms": room, "room": room},
            ) as carl,
            connected(hostile_gateway, public, name=unique("gus")) as gus,
        ):
            await drain_presence(nina, 2)  # carl and gus arrived after her
            await drain_presence(carl, 1)
            await send(olga, room, {"plan": "s3cr3t-1"})
            await send(olga, room, {"plan": "s3cr3t-2"})
            page = await olga.request({"action": "history", "room": room, "limit": 1})
            stolen = page["next"]
            assert stolen is not None
            for outsider in (nina, carl, gus):
                for target in (room, nowhere):
                    for message in (
                        {"action": "join", "room": target},
                        {"action": "members", "room": target},
                        {"action": "history", "room": target},
                        {"action": "history", "room": target, "before": stolen},
                        {"action": "join", "room": target, "rooms": [target]},
                        {"action": "join", "room": target, "authorizer": {"rooms": target}},
                        {
                            "action": "join",
                            "room": target,
                            "requestContext": {"authorizer": {"rooms": target}},
                        },
                    ):
                        # The same answer whether the room exists (olga spoke there) or not.
                        assert await outsider.request(message) == forbidden(target), message
                        tried["join/members/history refused"] += 1
                    sent = await outsider.request(
                        {"action": "sendmessage", "room": target, "data": "let me in"}
                    )
                    assert sent == not_in(target)
                    tried["sendmessage refused"] += 1
            for name, forged in forged_tokens(unique("u-eve"), room).items():
                before = await asyncio.to_thread(keys, dynamodb)
                with pytest.raises(InvalidStatus) as refused:
                    async with client(url(hostile_gateway.stage_url, token=forged)):
                        pass
                assert refused.value.response.status_code == 401, name
                assert await asyncio.to_thread(keys, dynamodb) == before, f"{name}: records"
                tried["forged token refused at the handshake"] += 1
            # Nothing of the room reached an outsider: the next frame each gets is the public
            # message sent after olga's third private one.
            await send(olga, room, {"plan": "s3cr3t-3"})
            await send(nina, public, "after")
            for outsider in (carl, gus):
                frame = await receive_json(outsider.ws)
                assert (frame["room"], frame["data"]) == (public, "after"), frame
            # And no outsider holds a membership of the room.
            members = {
                sk for pk, sk, _ in await asyncio.to_thread(keys, dynamodb) if pk == f"ROOM#{room}"
            }
            assert members == {f"CONN#{olga.connection_id}"}
            row.append(", ".join(f"{n} {kind}" for kind, n in tried.items()))
            row.append("no frame of the room reached an outsider, no membership written")


_PRIVATE_INJECTED = (
    "join/members/history/sendmessage by an ungranted user, a user granted another room and "
    "a guest, with a stolen cursor and grants claimed in message and query; tokens forged, "
    "expired, alg none, other audience"
)


# --------------------------------------------------------------------------------- cursors


@async_test(timeout=60)
async def test_cursors_and_ids_of_one_room_never_open_another(
    hostile_gateway: LocalGateway, stress_report: Record
) -> None:
    secret_room, open_room = unique("private:a"), unique("b")
    checks = 0
    with scenario_row(stress_report, "cursor from another room", _CURSOR_INJECTED) as row:
        async with (
            connected(
                hostile_gateway,
                secret_room,
                user_id=unique("u-ann"),
                name="Ann",
                rooms=(secret_room,),
            ) as ann,
            connected(hostile_gateway, open_room, user_id=unique("u-ben"), name="Ben") as ben,
        ):
            await ann.request({"action": "join", "room": open_room})
            assert (await receive_json(ben.ws))["type"] == "joined"
            hidden = [(await send(ann, secret_room, f"hidden-{n}"))["id"] for n in range(3)]
            visible = [(await send(ann, open_room, f"visible-{n}"))["id"] for n in range(3)]
            for _ in visible:
                await receive_json(ben.ws)
            page = await ann.request({"action": "history", "room": secret_room, "limit": 1})
            cursor = page["next"]
            assert page["messages"][0]["id"] == hidden[-1] and cursor is not None
            # The private room's cursor, in the public room: refused, for either of them.
            for user in (ann, ben):
                ask = {"action": "history", "room": open_room, "before": cursor}
                assert await user.request(ask) == bad_cursor(open_room)
                checks += 1
            # ...and in its own room, by someone without the grant: refused before it is read.
            ask = {"action": "history", "room": secret_room, "before": cursor}
            assert await ben.request(ask) == forbidden(secret_room)
            checks += 1
            # Relabelled to the public room, it pages the public room only.
            sort_key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            forged = encode_cursor(open_room, sort_key["before"])
            page = await ben.request({"action": "history", "room": open_room, "before": forged})
            assert page["type"] == "history", page
            assert {m["id"] for m in page["messages"]} <= set(visible)
            checks += 1
            # Message ids are not cursors, in their room or any other.
            for message_id in (hidden[0], visible[0]):
                for user, target in ((ben, open_room), (ann, secret_room)):
                    answer = await user.request(
                        {"action": "history", "room": target, "before": message_id}
                    )
                    assert answer["error"] == "bad_request", answer
                    checks += 1
            page = await ben.request({"action": "history", "room": open_room, "limit": 100})
            assert [m["id"] for m in page["messages"]][-3:] == visible
            assert not {m["id"] for m in page["messages"]} & set(hidden)
            row.append(
                f"{checks} attempts refused or confined to their own room; no message of the "
                "private room read without the grant"
            )


_CURSOR_INJECTED = (
    "a private room's history cursor used in a public room (by a granted and an ungranted "
    "user) and in its own room without the grant; the cursor relabelled to the public room; "
    "message ids as cursors"
)
