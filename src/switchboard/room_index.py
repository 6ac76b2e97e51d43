"""Which rooms have members now, without a Scan.

A room exists only while connections are in it (its `ROOM#{room}` membership items), and
DynamoDB cannot list partition keys without scanning the whole table. So every join also
registers its room in one small partition:

| item            | PK      | SK            | holds                                   |
|-----------------|---------|---------------|-----------------------------------------|
| registered room | `ROOMS` | `ROOM#{room}` | expiresAt: the last join + a connection's lifetime |

A registration outlives every connection that joined the room (each of them expires at
most a connection's lifetime after it joined), so a room with members is always
registered. A room that emptied stays registered until its registration expires; listing
leaves it out by asking its membership partition for one item. The lobby, which every
connection enters at `$connect` without a join, is always looked at. Listing costs one
Query of the registry plus one single-item Query per room registered in the last
connection lifetime.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from switchboard.protocol import DEFAULT_ROOM
from switchboard.store import Store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

REGISTRY = "ROOMS"
_ROOM_PREFIX = "ROOM#"


class RoomIndex:
    """Registers rooms as they are joined and lists those that have members."""

    def __init__(
        self,
        client: DynamoDBClient,
        store: Store,
        *,
        registration_seconds: int,
        query_page_size: int | None = None,
    ) -> None:
        self._db = client
        self._store = store
        self._registration_seconds = registration_seconds
        # None lets DynamoDB fill 1 MB pages; a number forces smaller pages (tests use it).
        self._page_size = query_page_size

    def register(self, room: str) -> None:
        """Record that the room has (or just had) a member."""
        # Every join pushes the expiry to now + a connection's lifetime: never earlier than
        # an earlier join's, so no condition is needed and concurrent joins cannot conflict.
        self._db.update_item(
            TableName=self._store.table_name,
            Key={"PK": {"S": REGISTRY}, "SK": {"S": f"{_ROOM_PREFIX}{room}"}},
            UpdateExpression="SET expiresAt = :expires",
            ExpressionAttributeValues={
                ":expires": {"N": str(int(time.time()) + self._registration_seconds)}
            },
        )

    def registered(self) -> set[str]:
        """Rooms registered and not expired (DynamoDB TTL deletes them only eventually)."""
        now = int(time.time())
        kwargs: dict[str, Any] = {
            "TableName": self._store.table_name,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": REGISTRY}},
        }
        if self._page_size:
            kwargs["Limit"] = self._page_size
        rooms: set[str] = set()
        while True:
            response = self._db.query(**kwargs)
            rooms |= {
                item["SK"]["S"].removeprefix(_ROOM_PREFIX)
                for item in response.get("Items", [])
                if int(item["expiresAt"]["N"]) > now
            }
            last = response.get("LastEvaluatedKey")
            if not last:
                return rooms
            kwargs["ExclusiveStartKey"] = last

    def rooms(self) -> list[str]:
        """Every room that has at least one member now, by name."""
        candidates = self.registered() | {DEFAULT_ROOM}
        return sorted(room for room in candidates if self._store.has_members(room))
