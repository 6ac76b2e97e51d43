"""Room history: every room message, kept for a retention period, read back page by page.

Items live in the connections table (`PK = MSG#{room}`, `SK = {ts:013d}#{id}`), so a room's
history is one partition read newest first, and `expiresAt` (epoch seconds) lets DynamoDB
TTL drop messages past the retention. `data` is stored as its JSON text, so any JSON value
comes back exactly as it was sent.

A page cursor names the room it belongs to and is checked against the room asked for, so a
cursor from one room can never page through another.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from switchboard.errors import BadRequest
from switchboard.protocol import MAX_ROOM_MESSAGE_BYTES, encode

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

MAX_PAGE = 100
JOIN_HISTORY = 20
#: What a page's messages may add up to, encoded: the reply carrying them is one WebSocket
#: message, at most 128 KB, and its envelope (type, room, cursor, a join's presence fields)
#: needs the rest. A page that would be larger stops early, with a cursor to the rest; one
#: message alone always fits (room messages are refused above this size).
PAGE_BYTES = MAX_ROOM_MESSAGE_BYTES
_SORT_KEY = re.compile(r"\d{13}#[0-9a-f]{32}")


@dataclass(frozen=True)
class HistoryPage:
    messages: list[dict[str, Any]]
    next: str | None


def encode_cursor(room: str, sort_key: str) -> str:
    raw = json.dumps({"room": room, "before": sort_key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(room: str, cursor: Any) -> str:
    """The sort key a cursor points before; bad_request unless it is one of this room's."""
    if not isinstance(cursor, str) or not 1 <= len(cursor) <= 512:
        raise BadRequest('"before" must be a cursor string from an earlier history reply')
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise BadRequest('"before" is not a valid history cursor') from None
    if (
        not isinstance(decoded, dict)
        or decoded.get("room") != room
        or not isinstance(decoded.get("before"), str)
        or not _SORT_KEY.fullmatch(decoded["before"])
    ):
        raise BadRequest(f'"before" is not a history cursor of room "{room}"')
    return str(decoded["before"])


def _key(message: dict[str, Any]) -> dict[str, Any]:
    """Where a room message is stored: its room's partition, in time order."""
    return {
        "PK": {"S": f"MSG#{message['room']}"},
        "SK": {"S": f"{message['ts']:013d}#{message['id']}"},
    }


class History:
    """Stores and pages room messages; disabled when the retention is zero."""

    def __init__(self, client: DynamoDBClient, table_name: str, retention_seconds: int) -> None:
        self._db = client
        self._table = table_name
        self.retention_seconds = retention_seconds

    @property
    def enabled(self) -> bool:
        return self.retention_seconds > 0

    def append(self, message: dict[str, Any]) -> None:
        """Store one `{"type":"message",...}` envelope."""
        if not self.enabled:
            return
        sender = message["from"]
        stored_from: dict[str, Any] = {"name": {"S": str(sender["name"])}}
        # A backend sender has no connection: store none, so history shows what was delivered.
        if sender.get("connectionId"):
            stored_from["connectionId"] = {"S": str(sender["connectionId"])}
        if sender.get("userId"):
            stored_from["userId"] = {"S": str(sender["userId"])}
        if sender.get("guest"):
            stored_from["guest"] = {"BOOL": True}
        if sender.get("service"):
            stored_from["service"] = {"BOOL": True}
        self._db.put_item(
            TableName=self._table,
            Item={
                **_key(message),
                "id": {"S": message["id"]},
                "ts": {"N": str(message["ts"])},
                "from": {"M": stored_from},
                "data": {"S": json.dumps(message["data"], ensure_ascii=False)},
                "expiresAt": {"N": str(message["ts"] // 1000 + self.retention_seconds)},
            },
        )

    def remove(self, message: dict[str, Any]) -> None:
        """Delete one stored envelope (a send that failed takes its message back)."""
        if not self.enabled:
            return
        self._db.delete_item(TableName=self._table, Key=_key(message))

    def page(self, room: str, limit: int, before: str | None = None) -> HistoryPage:
        """Up to `limit` messages older than the cursor, oldest first, and the next cursor."""
        if not self.enabled:
            return HistoryPage([], None)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"MSG#{room}"}},
            "ScanIndexForward": False,
            # One more than asked says whether older messages exist: DynamoDB sets
            # LastEvaluatedKey whenever it stops at Limit, even on the very last item.
            "Limit": limit + 1,
        }
        if before is not None:
            kwargs["ExclusiveStartKey"] = {
                "PK": {"S": f"MSG#{room}"},
                "SK": {"S": decode_cursor(room, before)},
            }
        response = self._db.query(**kwargs)
        found = list(response.get("Items", []))
        # Newest first: keep as many as fit the reply, always at least one.
        newest_first: list[dict[str, Any]] = []
        size = 0
        for item in found[:limit]:
            message = _message(room, item)
            size += len(encode(message)) + 1  # and its comma
            if newest_first and size > PAGE_BYTES:
                break
            newest_first.append(message)
        kept = found[: len(newest_first)]
        # LastEvaluatedKey with fewer items: the 1 MB page ended first.
        more = bool(kept) and (len(found) > len(kept) or "LastEvaluatedKey" in response)
        next_cursor = encode_cursor(room, kept[-1]["SK"]["S"]) if more else None
        return HistoryPage(newest_first[::-1], next_cursor)


def _message(room: str, item: dict[str, Any]) -> dict[str, Any]:
    stored = item["from"]["M"]
    sender: dict[str, Any] = {}
    if "connectionId" in stored:
        sender["connectionId"] = stored["connectionId"]["S"]
    sender["name"] = stored["name"]["S"]
    if "userId" in stored:
        sender["userId"] = stored["userId"]["S"]
    if stored.get("guest", {}).get("BOOL"):
        sender["guest"] = True
    if stored.get("service", {}).get("BOOL"):
        sender["service"] = True
    return {
        "type": "message",
        "room": room,
        "from": sender,
        "data": json.loads(item["data"]["S"]),
        "id": item["id"]["S"],
        "ts": int(item["ts"]["N"]),
    }
