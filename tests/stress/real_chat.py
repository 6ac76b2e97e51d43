"""Reading the real chat's state and driving its clients, for the tests against a gateway.

Scans project the keys (and names) only: history holds message bodies up to 128 KB, and the
hostile runs read the table after every example. Clients leave the lobby once they are in a
room of their own, since every newcomer's presence is announced there.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from websockets.asyncio.client import ClientConnection

from tests.integration.chat_app import TABLE
from tests.integration.ws_clients import receive_json

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def keys(dynamodb: DynamoDBClient) -> list[tuple[str, str, str | None]]:
    """(PK, SK, name) of every item: a Scan without the (large) message bodies in history."""
    found: list[tuple[str, str, str | None]] = []
    kwargs: dict[str, Any] = {
        "TableName": TABLE,
        "ProjectionExpression": "PK, SK, #n",
        "ExpressionAttributeNames": {"#n": "name"},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.scan(**kwargs)
        found += [
            (item["PK"]["S"], item["SK"]["S"], item.get("name", {}).get("S"))
            for item in page.get("Items", [])
        ]
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def connection_id_of(dynamodb: DynamoDBClient, name: str) -> str:
    [found] = [pk[5:] for pk, sk, n in keys(dynamodb) if sk == "META" and n == name]
    return found


def records_of(dynamodb: DynamoDBClient, connection_id: str) -> list[tuple[str, str]]:
    """The (PK, SK) of the connection's items: its record, user index and memberships."""
    key = f"CONN#{connection_id}"
    return sorted((pk, sk) for pk, sk, _ in keys(dynamodb) if key in (pk, sk))


async def wait_until_gone(dynamodb: DynamoDBClient, connection_id: str) -> None:
    for _ in range(200):
        if not await asyncio.to_thread(records_of, dynamodb, connection_id):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{connection_id}'s records outlived it: $disconnect did not clean up")


async def enter(ws: ClientConnection, room: str) -> str:
    """Join `room`, leave the lobby (where every newcomer is announced); the connection id."""
    await ws.send(json.dumps({"action": "join", "room": room}))
    # Lobby presence (others coming and going) may come first; the reply carries messages.
    while "messages" not in (joined := await receive_json(ws)):
        assert joined["type"] in {"joined", "left"}, joined
    assert (joined["type"], joined["room"]) == ("joined", room), joined
    await ws.send(json.dumps({"action": "leave", "room": "lobby"}))
    while (left := await receive_json(ws)).get("connectionId") != joined["connectionId"]:
        assert left["type"] in {"joined", "left"}, left
    assert (left["type"], left["room"]) == ("left", "lobby"), left
    return str(joined["connectionId"])
