"""`$connect`: the record it writes, the names it accepts, and refusing what it cannot record."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from switchboard.config import MAX_CONNECTION_SECONDS
from tests.support.events import connect_event, connection_id
from tests.support.management_api import recipients
from tests.support.stack import Stack, invoke

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Items = Callable[[], list[dict[str, Any]]]
ADA = connection_id(1)
CONNECTED_AT = 1795830432345  # connect.json's requestContext.connectedAt, in milliseconds


def by_key(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["PK"]["S"], item["SK"]["S"]): item for item in items}


def test_records_the_connection_and_its_lobby_membership(stack: Stack, items: Items) -> None:
    assert stack.connect(ADA, name="ada") == {"statusCode": 200}
    written = by_key(items())
    assert set(written) == {(f"CONN#{ADA}", "META"), ("ROOM#lobby", f"CONN#{ADA}")}
    expires = CONNECTED_AT // 1000 + MAX_CONNECTION_SECONDS + 300
    assert written[(f"CONN#{ADA}", "META")] == {
        "PK": {"S": f"CONN#{ADA}"},
        "SK": {"S": "META"},
        "connectionId": {"S": ADA},
        "name": {"S": "ada"},
        "connectedAt": {"N": str(CONNECTED_AT)},
        "expiresAt": {"N": str(expires)},
        "v": {"N": "0"},
        "rooms": {"SS": ["lobby"]},
        "sourceIp": {"S": "198.51.100.23"},
        "userAgent": {
            "S": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
        },
    }
    assert written[("ROOM#lobby", f"CONN#{ADA}")] == {
        "PK": {"S": "ROOM#lobby"},
        "SK": {"S": f"CONN#{ADA}"},
        "connectionId": {"S": ADA},
        "name": {"S": "ada"},
        "expiresAt": {"N": str(expires)},
    }
    assert recipients() == set(), "connecting announces nothing"


def test_ttl_is_in_seconds_on_every_item(
    stack: Stack, items: Items, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTION_TTL_SECONDS", "600")
    stack.connect(ADA)
    for item in items():
        assert int(item["expiresAt"]["N"]) == CONNECTED_AT // 1000 + 600


def test_without_connected_at_the_time_of_the_call_is_used(table: str, items: Items) -> None:
    event = connect_event(ADA)
    del event["requestContext"]["connectedAt"], event["requestContext"]["requestTimeEpoch"]
    assert invoke(event) == {"statusCode": 200}
    record = by_key(items())[(f"CONN#{ADA}", "META")]
    connected_at = int(record["connectedAt"]["N"])
    assert 10**12 < connected_at < 10**13
    assert int(record["expiresAt"]["N"]) == connected_at // 1000 + MAX_CONNECTION_SECONDS + 300


def test_a_guest_name_when_none_is_given(stack: Stack, items: Items) -> None:
    stack.connect(ADA)
    name = by_key(items())[(f"CONN#{ADA}", "META")]["name"]["S"]
    assert re.fullmatch(r"guest-[0-9a-f]{6}", name)


def test_other_query_parameters_are_ignored(stack: Stack, items: Items) -> None:
    assert stack.connect_with_query(ADA, {"token": "x", "name": "  ada  "})["statusCode"] == 200
    assert by_key(items())[(f"CONN#{ADA}", "META")]["name"] == {"S": "ada"}


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 33, "tab\there", "nul\x00", "new\nline", "bell\x07", "zero\u200bwidth"],
)
def test_a_bad_name_rejects_the_handshake_and_writes_nothing(
    name: str, stack: Stack, items: Items
) -> None:
    assert stack.connect(ADA, name=name) == {
        "statusCode": 400,
        "body": '{"message":"\\"name\\" must be 1-32 printable characters"}',
    }
    assert items() == []
    assert recipients() == set()


def test_failing_to_record_returns_500(
    stack: Stack,
    db: DynamoDBClient,
    table: str,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    db.delete_table(TableName=table)
    assert stack.connect(ADA, name="ada") == {
        "statusCode": 500,
        "body": '{"message":"could not record the connection"}',
    }
    lines = log_lines()
    failure = next(line for line in lines if line["message"] == "could not record connection")
    assert failure["connectionId"] == ADA
    assert "ResourceNotFoundException" in failure["exception"]
    invocation = next(line for line in lines if line["message"] == "invocation")
    assert invocation["outcome"] == "status_500"


def test_the_same_connection_id_twice_is_refused(stack: Stack, items: Items) -> None:
    assert stack.connect(ADA, name="ada")["statusCode"] == 200
    before = items()
    assert stack.connect(ADA, name="eve")["statusCode"] == 500
    assert items() == before
