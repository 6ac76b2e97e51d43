"""What is in the table, read with a full (paginated) Scan: tests look at every item."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def items(client: DynamoDBClient, table_name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table_name, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        found += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def keys(client: DynamoDBClient, table_name: str) -> set[tuple[str, str]]:
    """(PK, SK) of every item."""
    return {(item["PK"]["S"], item["SK"]["S"]) for item in items(client, table_name)}
