"""Markup, SQL and shell text in names and messages: it round-trips as data, byte for byte.

Through the real gateway: display names (a guest's `?name=` and a token's `name`) and message
data holding HTML, SQL, shell and template syntax arrive exactly as sent in presence, member
lists, deliveries, direct messages and history, and are stored as the same text. Room names
cannot hold them (a clear bad_request, nothing written). How the chat page renders them is the
browser test's part (tests/browser/).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.integration.async_test import async_test
from tests.integration.aws_clients import dynamodb_client
from tests.integration.chat_app import TABLE
from tests.integration.local_gateway import LocalGateway
from tests.integration.ws_clients import receive_json
from tests.plugins.stress_report import Record
from tests.stress.hostile_values import INJECTIONS
from tests.stress.property_run import scenario_row
from tests.stress.real_chat import keys
from tests.stress.real_users import connected, unique

#: Names are 1-32 printable characters: the injections that fit are names too.
NAMES = [text for text in INJECTIONS if len(text) <= 32 and text.isprintable()]
ROOM_RULE = '"room" must be 1-64 characters of letters, digits, "_", ".", ":" or "-"'


def stored_names(gateway: LocalGateway) -> set[str]:
    dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
    return {name for _, sk, name in keys(dynamodb) if sk == "META" and name is not None}


def stored_data(gateway: LocalGateway, room: str) -> list[Any]:
    """The data of every message the table holds for the room, oldest first."""
    dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
    found = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": f"MSG#{room}"}},
        ConsistentRead=True,
    )
    assert "LastEvaluatedKey" not in found
    return [json.loads(item["data"]["S"]) for item in found["Items"]]


@async_test(timeout=90)
async def test_names_and_messages_round_trip_as_data(
    hostile_gateway: LocalGateway, stress_report: Record
) -> None:
    room = unique("inject")
    injected = (
        f"{len(NAMES)} names (guest ?name= and token name) and {len(INJECTIONS)} texts as "
        "data, keys and direct messages: HTML/script, SQL, shell, template and format strings"
    )
    with scenario_row(stress_report, "injection round-trip", injected) as row:
        async with connected(
            hostile_gateway, room, user_id=unique("u-reader"), name="Reader"
        ) as reader:
            for number, name in enumerate(NAMES):
                # Half guests naming themselves, half users whose token names them.
                user_id = unique("u-inj") if number % 2 else None
                async with connected(hostile_gateway, room, user_id=user_id, name=name) as writer:
                    joined = await receive_json(reader.ws)
                    assert (joined["type"], joined["name"]) == ("joined", name), joined
                    members = await reader.request({"action": "members", "room": room})
                    assert name in {m["name"] for m in members["members"]}, members
                    assert name in await asyncio.to_thread(stored_names, hostile_gateway)
                    data = {name: [name, {"html": f"<p>{name}</p>"}]}
                    sent = await writer.request(
                        {"action": "sendmessage", "room": room, "data": data}
                    )
                    assert (sent["type"], sent["delivered"]) == ("sent", 1), sent
                    message = await receive_json(reader.ws)
                    assert (message["data"], message["from"]) == (data, writer.sender), message
                    direct = await writer.request(
                        {"action": "sendto", "to": reader.user_id, "data": name}
                    )
                    assert direct["type"] == "sent", direct
                    assert (await receive_json(reader.ws))["data"] == name
                left = await receive_json(reader.ws)
                assert (left["type"], left["name"]) == ("left", name), left
            row.append(f"{len(NAMES)} names identical in presence, members and the table")

            sent_texts = []
            for text in INJECTIONS:
                await reader.request({"action": "sendmessage", "room": room, "data": text})
                sent_texts.append(text)
            history = await reader.request({"action": "history", "room": room, "limit": 100})
            delivered = [m["data"] for m in history["messages"]]
            assert delivered[-len(INJECTIONS) :] == sent_texts
            stored = await asyncio.to_thread(stored_data, hostile_gateway, room)
            assert stored == delivered, "the table holds exactly what history answered"
            row.append(
                f"{len(NAMES) + len(INJECTIONS)} messages identical in delivery, history and "
                "the table"
            )

            before = await asyncio.to_thread(
                keys, dynamodb_client(hostile_gateway.dynamodb_endpoint)
            )
            for text in INJECTIONS:
                for action in ("join", "sendmessage", "members", "history"):
                    answer = await reader.request({"action": action, "room": text, "data": 1})
                    assert answer == {
                        "type": "error",
                        "error": "bad_request",
                        "message": ROOM_RULE,
                    }, (action, text, answer)
            after = await asyncio.to_thread(
                keys, dynamodb_client(hostile_gateway.dynamodb_endpoint)
            )
            assert after == before
            row.append(
                f"{4 * len(INJECTIONS)} room names refused with bad_request, nothing written"
            )
