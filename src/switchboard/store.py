"""Connections and room memberships in one DynamoDB table.

Key design (single table, string keys `PK` and `SK`):

| item              | PK             | SK          | holds                                       |
|-------------------|----------------|-------------|---------------------------------------------|
| connection        | `CONN#{id}`    | `META`      | name, userId, connectedAt, identity, rooms  |
| room membership   | `ROOM#{room}`  | `CONN#{id}` | connectionId, name, userId                  |
| user's connection | `USER#{user}`  | `CONN#{id}` | connectionId, name                          |

(Room history lives in the same table; see history.py.)

Sending to a room is a Query of its partition, so its cost grows with that room only; a
direct message is a Query of the user's partition. The
connection item keeps the set of its rooms and a version number, so removing a connection is
one transaction that deletes exactly the memberships it has, and never races a join into an
orphaned membership. Every item carries `expiresAt` (epoch SECONDS) for DynamoDB TTL, so a
`$disconnect` that never arrives cannot leave records behind for longer than the connection
could have lived.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError as BotoClientError

from switchboard.errors import BadRequest, ConnectionGone
from switchboard.identity import GUEST_PREFIX
from switchboard.protocol import MAX_ROOMS_PER_CONNECTION, now_ms

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

META = "META"
_REMOVE_ATTEMPTS = 5
#: Concurrent changes to one connection are rare; a few re-reads settle them.
_CHANGE_ATTEMPTS = 5
#: Backoff before each retry of a transaction that DynamoDB cancelled for lack of capacity.
#: botocore retries throttling errors itself, but a cancelled transaction (reason
#: `ThrottlingError`) is a TransactionCanceledException, which it never retries.
THROTTLE_DELAYS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
_THROTTLE_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})


#: What a presence check reads of a membership: who, and when it joined.
_MEMBERSHIP_ORDER = "connectionId, joinedAt"


def connection_key(connection_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"CONN#{connection_id}"}, "SK": {"S": META}}


def departure_key(connection_id: str) -> dict[str, Any]:
    """A pruned connection's record, kept for its `$disconnect` (Store.take_departure)."""
    return {"PK": {"S": f"CONN#{connection_id}"}, "SK": {"S": "DEPARTED"}}


def membership_key(room: str, connection_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"ROOM#{room}"}, "SK": {"S": f"CONN#{connection_id}"}}


def user_key(user_id: str, connection_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"USER#{user_id}"}, "SK": {"S": f"CONN#{connection_id}"}}


@dataclass(frozen=True)
class Member:
    """One user in a room, however many connections they have there."""

    user_id: str
    name: str
    connections: int


@dataclass(frozen=True)
class Connection:
    """One live connection, as `$connect` recorded it."""

    connection_id: str
    name: str
    connected_at: int
    expires_at: int
    user_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    rooms: frozenset[str] = field(default_factory=frozenset)
    version: int = 0
    #: When `$connect` wrote the record (ms). The handshake completes just after; until
    #: then API Gateway answers 410 for the connection, as for a stale one.
    recorded_at: int | None = None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            **connection_key(self.connection_id),
            "connectionId": {"S": self.connection_id},
            "name": {"S": self.name},
            "connectedAt": {"N": str(self.connected_at)},
            "expiresAt": {"N": str(self.expires_at)},
            "v": {"N": str(self.version)},
        }
        if self.rooms:
            item["rooms"] = {"SS": sorted(self.rooms)}
        if self.recorded_at is not None:
            item["recordedAt"] = {"N": str(self.recorded_at)}
        for attribute, value in (
            ("userId", self.user_id),
            ("sourceIp", self.source_ip),
            ("userAgent", self.user_agent),
        ):
            if value:
                item[attribute] = {"S": value}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Connection:
        return cls(
            connection_id=item["connectionId"]["S"],
            name=item["name"]["S"],
            connected_at=int(item["connectedAt"]["N"]),
            expires_at=int(item["expiresAt"]["N"]),
            user_id=item.get("userId", {}).get("S"),
            source_ip=item.get("sourceIp", {}).get("S"),
            user_agent=item.get("userAgent", {}).get("S"),
            rooms=frozenset(item.get("rooms", {}).get("SS", [])),
            version=int(item.get("v", {"N": "0"})["N"]),
            recorded_at=int(item["recordedAt"]["N"]) if "recordedAt" in item else None,
        )

    @property
    def guest(self) -> bool:
        """An anonymous connection: its user id is `guest:{connectionId}`."""
        return not self.user_id or self.user_id.startswith(GUEST_PREFIX)

    def sender(self) -> dict[str, Any]:
        """How this connection appears in `from` of the messages it sends."""
        sender: dict[str, Any] = {"connectionId": self.connection_id, "name": self.name}
        if self.user_id:
            sender["userId"] = self.user_id
        if self.guest:
            sender["guest"] = True
        return sender

    def user_item(self) -> dict[str, Any] | None:
        if not self.user_id:
            return None
        return {
            **user_key(self.user_id, self.connection_id),
            "connectionId": {"S": self.connection_id},
            "name": {"S": self.name},
            "expiresAt": {"N": str(self.expires_at)},
        }

    def membership_item(self, room: str, joined_at: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            **membership_key(room, self.connection_id),
            "connectionId": {"S": self.connection_id},
            "name": {"S": self.name},
            "expiresAt": {"N": str(self.expires_at)},
            # Orders a user's connections in the room: the first to join announces it.
            "joinedAt": {"N": str(joined_at)},
        }
        if self.user_id:
            item["userId"] = {"S": self.user_id}
        return item


class Store:
    """Reads and writes of connections and memberships; every multi-item change is atomic."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, *, query_page_size: int | None = None
    ) -> None:
        self._db = client
        self._table = table_name
        # None lets DynamoDB fill 1 MB pages; a number forces smaller pages (tests use it).
        self._page_size = query_page_size

    @property
    def table_name(self) -> str:
        return self._table

    def add_connection(self, connection: Connection) -> None:
        """Record the connection and its initial rooms in one transaction."""
        writes: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": connection.to_item(),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        ]
        joined_at = connection.recorded_at or connection.connected_at
        writes += [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": connection.membership_item(room, joined_at),
                }
            }
            for room in sorted(connection.rooms)
        ]
        user_item = connection.user_item()
        if user_item is not None:
            writes.append({"Put": {"TableName": self._table, "Item": user_item}})
        self._transact(writes)

    def get_connection(self, connection_id: str) -> Connection | None:
        response = self._db.get_item(
            TableName=self._table, Key=connection_key(connection_id), ConsistentRead=True
        )
        item = response.get("Item")
        return Connection.from_item(item) if item else None

    def require_connection(self, connection_id: str) -> Connection:
        connection = self.get_connection(connection_id)
        if connection is None:
            # The message is the client's error text: say what happened, not just the id.
            raise ConnectionGone(
                f"connection {connection_id} is no longer registered "
                "(closed, expired or pruned): reconnect"
            )
        return connection

    def join_room(
        self, connection: Connection, room: str, *, joined_at: int | None = None, attempt: int = 1
    ) -> bool:
        """Add the membership, stamped `joined_at` (ms, now by default); False when the
        connection was already a member."""
        if joined_at is None:
            joined_at = now_ms()
        if room in connection.rooms:
            return False
        if len(connection.rooms) >= MAX_ROOMS_PER_CONNECTION:
            raise BadRequest(
                f"a connection may be in at most {MAX_ROOMS_PER_CONNECTION} rooms; leave one first"
            )
        try:
            self._transact(
                [
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": connection_key(connection.connection_id),
                            "UpdateExpression": "ADD rooms :room, v :one",
                            "ConditionExpression": "v = :v",
                            "ExpressionAttributeValues": {
                                ":room": {"SS": [room]},
                                ":one": {"N": "1"},
                                ":v": {"N": str(connection.version)},
                            },
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": connection.membership_item(room, joined_at),
                        }
                    },
                ]
            )
        except BotoClientError as error:
            if not _is_condition_failure(error) or attempt >= _CHANGE_ATTEMPTS:
                raise
            # The record changed under us (a concurrent join/leave) or is gone: re-read.
            current = self.require_connection(connection.connection_id)
            return self.join_room(current, room, joined_at=joined_at, attempt=attempt + 1)
        return True

    def leave_room(self, connection: Connection, room: str, *, attempt: int = 1) -> bool:
        """Remove the membership; False when the connection was not a member."""
        if room not in connection.rooms:
            return False
        try:
            self._transact(
                [
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": connection_key(connection.connection_id),
                            "UpdateExpression": "DELETE rooms :room ADD v :one",
                            "ConditionExpression": "v = :v",
                            "ExpressionAttributeValues": {
                                ":room": {"SS": [room]},
                                ":one": {"N": "1"},
                                ":v": {"N": str(connection.version)},
                            },
                        }
                    },
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": membership_key(room, connection.connection_id),
                        }
                    },
                ]
            )
        except BotoClientError as error:
            if not _is_condition_failure(error) or attempt >= _CHANGE_ATTEMPTS:
                raise
            current = self.require_connection(connection.connection_id)
            return self.leave_room(current, room, attempt=attempt + 1)
        return True

    def remove_connection(
        self, connection_id: str, *, note_departure: bool = False
    ) -> Connection | None:
        """Delete the connection and all its memberships; None when it was already gone.

        Idempotent, and safe against a concurrent join: the delete is conditional on the
        version that was read, so a membership added in between is seen on the retry.

        `note_departure` (a broadcast pruning a recipient that answered 410) keeps a copy of
        the record, in the same transaction, for the connection's `$disconnect` to take
        (`take_departure`): it comes after the prune and must still tell the rooms.
        """
        for _ in range(_REMOVE_ATTEMPTS):
            connection = self.get_connection(connection_id)
            if connection is None:
                return None
            writes: list[TransactWriteItemTypeDef] = [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": connection_key(connection_id),
                        "ConditionExpression": "v = :v",
                        "ExpressionAttributeValues": {":v": {"N": str(connection.version)}},
                    }
                }
            ]
            writes += [
                {"Delete": {"TableName": self._table, "Key": membership_key(room, connection_id)}}
                for room in sorted(connection.rooms)
            ]
            if connection.user_id:
                writes.append(
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": user_key(connection.user_id, connection_id),
                        }
                    }
                )
            if note_departure:
                # It expires with the record it copies, if no `$disconnect` ever takes it.
                note = {**connection.to_item(), **departure_key(connection_id)}
                writes.append({"Put": {"TableName": self._table, "Item": note}})
            try:
                self._transact(writes)
            except BotoClientError as error:
                if _is_condition_failure(error):
                    continue
                raise
            return connection
        raise RuntimeError(
            f"connection {connection_id} kept changing; gave up after {_REMOVE_ATTEMPTS} tries"
        )

    def take_departure(self, connection_id: str) -> Connection | None:
        """The record a prune kept for the connection's `$disconnect`, deleted as it is read
        (so only one `$disconnect` gets it); None when there is none."""
        response = self._db.delete_item(
            TableName=self._table, Key=departure_key(connection_id), ReturnValues="ALL_OLD"
        )
        attributes = response.get("Attributes")
        return Connection.from_item(dict(attributes)) if attributes else None

    def _transact(self, writes: list[TransactWriteItemTypeDef]) -> None:
        """TransactWriteItems, retried with jittered backoff while cancelled for capacity.

        A cancelled transaction changed nothing, so running it again is safe; a retry that
        botocore makes after a lost answer carries the same ClientRequestToken, which
        DynamoDB answers without applying the transaction twice.
        """
        for delay in (*THROTTLE_DELAYS, None):
            try:
                self._db.transact_write_items(TransactItems=writes)
                return
            except BotoClientError as error:
                if delay is None or not _is_throttled(error):
                    raise
            # Jitter: transactions throttled together should not all come back together.
            time.sleep(delay * (0.5 + random.random() / 2))  # noqa: S311 - not for security

    def room_connection_pages(self, room: str) -> Iterator[list[str]]:
        """The room's connection ids, one Query page at a time (LastEvaluatedKey followed)."""
        for page in self._pages(f"ROOM#{room}", "connectionId"):
            yield [item["connectionId"]["S"] for item in page]

    def user_connection_ids(self, user_id: str) -> list[str]:
        """Every live connection of one user (a direct message goes to each)."""
        return [
            item["connectionId"]["S"]
            for page in self._pages(f"USER#{user_id}", "connectionId")
            for item in page
        ]

    def room_members(self, room: str) -> list[Member]:
        """The room's users, each with how many connections they have in it, by name."""
        members: dict[str, Member] = {}
        for page in self._pages(f"ROOM#{room}", "connectionId, #n, userId"):
            for item in page:
                user_id = item.get("userId", {}).get("S") or item["connectionId"]["S"]
                known = members.get(user_id)
                members[user_id] = Member(
                    user_id=user_id,
                    name=item["name"]["S"],
                    connections=(known.connections if known else 0) + 1,
                )
        return sorted(members.values(), key=lambda m: (m.name.lower(), m.user_id))

    def has_members(self, room: str) -> bool:
        """Whether any connection is in the room now (one single-item Query)."""
        response = self._db.query(
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :conn)",
            ExpressionAttributeValues={":pk": {"S": f"ROOM#{room}"}, ":conn": {"S": "CONN#"}},
            ProjectionExpression="PK",
            Limit=1,
        )
        return bool(response.get("Items"))

    def ping(self) -> None:
        """One cheap read that raises unless the table answers (for health checks)."""
        # A key no item has: the read costs half a capacity unit and returns nothing.
        self._db.get_item(TableName=self._table, Key={"PK": {"S": "HEALTH"}, "SK": {"S": "HEALTH"}})

    def user_in_room(
        self, user_id: str, room: str, *, excluding: str, joined_before: int | None = None
    ) -> bool:
        """Whether another connection of the user is in the room (presence is per user).

        With `joined_before`, only one that joined earlier counts (the same millisecond:
        the lower connection id). Two connections of a user joining at once then agree on
        which of them was first, so one of them announces it, not neither.
        """
        others = [cid for cid in self.user_connection_ids(user_id) if cid != excluding]

        def counts(item: dict[str, Any]) -> bool:
            if joined_before is None:
                return True
            # A membership written before joinedAt existed counts as the earliest.
            joined = int(item.get("joinedAt", {"N": "0"})["N"])
            return (joined, item["connectionId"]["S"]) < (joined_before, excluding)

        for start in range(0, len(others), 100):
            keys = [membership_key(room, cid) for cid in others[start : start + 100]]
            response = self._db.batch_get_item(
                RequestItems={
                    self._table: {
                        "Keys": keys,
                        "ProjectionExpression": _MEMBERSHIP_ORDER,
                        "ConsistentRead": True,
                    }
                }
            )
            answered: dict[str, Any] = dict(response.get("Responses", {}))
            if any(counts(item) for item in answered.get(self._table, [])):
                return True
            # Unprocessed keys (under throttling) are asked for one by one.
            unprocessed: dict[str, Any] = dict(response.get("UnprocessedKeys", {}))
            leftover = unprocessed.get(self._table, {}).get("Keys")
            if leftover and any(counts(item) for item in self._memberships(leftover)):
                return True
        return False

    def _memberships(self, keys: list[Any]) -> Iterator[dict[str, Any]]:
        for key in keys:
            item = self._db.get_item(
                TableName=self._table,
                Key=key,
                ProjectionExpression=_MEMBERSHIP_ORDER,
                ConsistentRead=True,
            ).get("Item")
            if item is not None:
                yield dict(item)

    def _pages(self, partition: str, projection: str) -> Iterator[list[dict[str, Any]]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :conn)",
            "ExpressionAttributeValues": {":pk": {"S": partition}, ":conn": {"S": "CONN#"}},
            "ProjectionExpression": projection,
        }
        if "#n" in projection:
            kwargs["ExpressionAttributeNames"] = {"#n": "name"}
        if self._page_size:
            kwargs["Limit"] = self._page_size
        while True:
            response = self._db.query(**kwargs)
            yield list(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last


def _is_throttled(error: BotoClientError) -> bool:
    """A transaction cancelled for throughput only (no condition failed)."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    reasons = {r.get("Code") for r in error.response.get("CancellationReasons", [])}
    return bool(reasons & _THROTTLE_REASONS) and "ConditionalCheckFailed" not in reasons


def _is_condition_failure(error: BotoClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons", [])
        return any(
            r.get("Code") in ("ConditionalCheckFailed", "TransactionConflict") for r in reasons
        )
    return False
