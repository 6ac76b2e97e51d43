"""What the tests of the real app (template.yaml) share: its table, its records, its logs.

Tests of the real app share one gateway. Every client lands in the lobby, so a test waits for
the `$disconnect` of every earlier client (each one tells the lobby it left) before it starts:
`wait_until_quiet` counts the app's one-log-line-per-invocation records in the gateway's stderr.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from tests.integration.aws_clients import table_keys
from tests.integration.local_gateway import LocalGateway
from tests.support.dynamodb import items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TABLE = "ConnectionsTable"
#: Items that live as long as a connection: its record, its user index, its memberships.
#: (Room history, `MSG#`, stays: it is the rooms' data, not the connections'.)
CONNECTION_ITEMS = ("CONN#", "USER#", "ROOM#")
PRESENCE = re.compile(r'^\{"type":"(joined|left)",')


def unique_name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def invocations(gateway: LocalGateway) -> Counter[tuple[str, str]]:
    """How many invocations of each (route, outcome) the app has logged."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in gateway.stderr().splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("message") == "invocation":
            counts[(str(record.get("route")), str(record.get("outcome")))] += 1
    return counts


def wait_until_quiet(gateway: LocalGateway, timeout: float = 30.0) -> None:
    """Until every connection that `$connect` accepted has had its `$disconnect` run."""
    deadline = time.monotonic() + timeout
    while True:
        counts = invocations(gateway)
        if counts[("$connect", "ok")] == sum(
            n for (route, _), n in counts.items() if route == "$disconnect"
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"$disconnect still pending after {timeout} s: {dict(counts)}")
        time.sleep(0.05)


def connection_keys(dynamodb: DynamoDBClient) -> list[tuple[str, str]]:
    return [key for key in table_keys(dynamodb, TABLE) if key[0].startswith(CONNECTION_ITEMS)]


def wait_until_no_connections(dynamodb: DynamoDBClient, timeout: float = 30.0) -> None:
    """Until every `$disconnect` so far has removed its connection's items."""
    deadline = time.monotonic() + timeout
    while keys := connection_keys(dynamodb):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{len(keys)} connection items left after {timeout} s: {keys[:10]}"
            )
        time.sleep(0.1)


def connection_record(dynamodb: DynamoDBClient, name: str) -> dict[str, Any]:
    """The connection item `$connect` wrote for the client named `name`."""
    found = [
        item
        for item in items(dynamodb, TABLE)
        if item["SK"]["S"] == "META" and item["name"]["S"] == name
    ]
    assert len(found) == 1, f"expected one connection named {name}, found {found}"
    return found[0]


def connection_id_of(dynamodb: DynamoDBClient, name: str) -> str:
    return str(connection_record(dynamodb, name)["connectionId"]["S"])


def guest_records(connection_id: str, rooms: tuple[str, ...] = ("lobby",)) -> list[tuple[str, str]]:
    """What a guest's connection leaves in the table: its record, its user index, its rooms."""
    member = f"CONN#{connection_id}"
    return sorted(
        [(member, "META"), (f"USER#guest:{connection_id}", member)]
        + [(f"ROOM#{room}", member) for room in rooms]
    )


def records_of(dynamodb: DynamoDBClient, connection_id: str) -> list[tuple[str, str]]:
    """The (PK, SK) of the connection's items: its record and its room memberships."""
    key = f"CONN#{connection_id}"
    return sorted(
        (item["PK"]["S"], item["SK"]["S"])
        for item in items(dynamodb, TABLE)
        if key in (item["PK"]["S"], item["SK"]["S"])
    )


async def wait_until_gone(
    dynamodb: DynamoDBClient, connection_id: str, timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while records := await asyncio.to_thread(records_of, dynamodb, connection_id):
        assert time.monotonic() < deadline, f"$disconnect left {records} behind"
        await asyncio.sleep(0.05)
