"""`$connect`: the records it writes, who it says connected, and refusing what it cannot record.

Guests (no authorizer context) are `guest:{connectionId}` with the name they ask for; users a
token let in are who the authorizer says, whatever the query string claims.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from switchboard.config import MAX_CONNECTION_SECONDS
from tests.support.events import (
    ANONYMOUS_CONTEXT,
    authorizer_context,
    connect_event,
    connection_id,
)
from tests.support.management_api import recipients
from tests.support.stack import Stack, invoke

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Items = Callable[[], list[dict[str, Any]]]
ADA = connection_id(1)
CONNECTED_AT = 1795830432345  # connect.json's requestContext.connectedAt, in milliseconds


def by_key(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Items by key; a record's `recordedAt` (the time of the write) checked, then left out."""
    found = {(item["PK"]["S"], item["SK"]["S"]): item for item in items}
    recorded = {}
    for (pk, sk), item in found.items():
        if sk == "META":
            recorded[pk.removeprefix("CONN#")] = int(item.pop("recordedAt")["N"])
            assert abs(recorded[pk.removeprefix("CONN#")] - time.time() * 1000) < 60_000
    for (pk, _), item in found.items():
        if pk.startswith("ROOM#"):
            # The initial rooms are joined when the record is written.
            joined = int(item.pop("joinedAt")["N"])
            assert joined == recorded[item["connectionId"]["S"]], "joinedAt is the write"
    return found


EXPIRES = CONNECTED_AT // 1000 + MAX_CONNECTION_SECONDS + 300
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def expected_items(user_id: str, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """What `$connect` writes for one connection of `user_id`."""
    return {
        (f"CONN#{ADA}", "META"): {
            "PK": {"S": f"CONN#{ADA}"},
            "SK": {"S": "META"},
            "connectionId": {"S": ADA},
            "name": {"S": name},
            "userId": {"S": user_id},
            "connectedAt": {"N": str(CONNECTED_AT)},
            "expiresAt": {"N": str(EXPIRES)},
            "v": {"N": "0"},
            "rooms": {"SS": ["lobby"]},
            "sourceIp": {"S": "198.51.100.23"},
            "userAgent": {"S": USER_AGENT},
        },
        ("ROOM#lobby", f"CONN#{ADA}"): {
            "PK": {"S": "ROOM#lobby"},
            "SK": {"S": f"CONN#{ADA}"},
            "connectionId": {"S": ADA},
            "name": {"S": name},
            "userId": {"S": user_id},
            "expiresAt": {"N": str(EXPIRES)},
        },
        (f"USER#{user_id}", f"CONN#{ADA}"): {
            "PK": {"S": f"USER#{user_id}"},
            "SK": {"S": f"CONN#{ADA}"},
            "connectionId": {"S": ADA},
            "name": {"S": name},
            "expiresAt": {"N": str(EXPIRES)},
        },
    }


def test_records_a_guest_its_lobby_membership_and_user_index(stack: Stack, items: Items) -> None:
    assert stack.connect(ADA, name="ada") == {"statusCode": 200}
    assert by_key(items()) == expected_items(f"guest:{ADA}", "ada")
    assert recipients() == set(), "connecting announces nothing"


def test_the_authorizers_anonymous_context_is_a_guest(stack: Stack, items: Items) -> None:
    assert stack.connect_with_context(ADA, ANONYMOUS_CONTEXT, {"name": "ada"}) == {
        "statusCode": 200
    }
    assert by_key(items()) == expected_items(f"guest:{ADA}", "ada")


def test_records_a_user_as_the_token_names_them(stack: Stack, items: Items) -> None:
    assert stack.connect_as(ADA, "auth0|ada-1", "Ada Lovelace", rooms=["private:x"]) == {
        "statusCode": 200
    }
    assert by_key(items()) == expected_items("auth0|ada-1", "Ada Lovelace")
    assert recipients() == set()


@pytest.mark.parametrize(
    "query",
    [{"name": "eve"}, {"name": "x" * 40}, {"name": ""}, {"name": "new\nline"}],
    ids=["another name", "too long", "empty", "control character"],
)
def test_a_users_query_name_is_ignored_even_when_invalid(
    stack: Stack, items: Items, query: dict[str, str]
) -> None:
    assert stack.connect_as(ADA, "u-ada", "ada", query=query) == {"statusCode": 200}
    assert by_key(items()) == expected_items("u-ada", "ada")


def test_a_user_without_a_name_is_named_by_their_id(stack: Stack, items: Items) -> None:
    user_id = "0d5c1a7e-3f2b-4c6d-9e8f-1a2b3c4d5e6f"  # a Cognito sub
    assert stack.connect_with_context(ADA, authorizer_context(user_id, "")) == {"statusCode": 200}
    assert by_key(items()) == expected_items(user_id, user_id[:32])


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
    record = by_key(items())[(f"CONN#{ADA}", "META")]
    assert re.fullmatch(r"guest-[0-9a-f]{6}", record["name"]["S"])
    assert record["userId"] == {"S": f"guest:{ADA}"}


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
