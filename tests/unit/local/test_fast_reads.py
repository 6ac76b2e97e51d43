"""The embedded DynamoDB's fast Query path answers exactly as moto does, page for page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from switchboard.local.fast_reads import fast_query

TABLE = "fast"


@pytest.fixture(scope="module")
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "PK", "AttributeType": "S"},
                {"AttributeName": "SK", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "PK", "KeyType": "HASH"},
                {"AttributeName": "SK", "KeyType": "RANGE"},
            ],
        )
        for room in ("a", "b"):
            for n in range(30):
                client.put_item(
                    TableName=TABLE,
                    Item={
                        "PK": {"S": f"ROOM#{room}"},
                        "SK": {"S": f"{'CONN' if n % 3 else 'MSG'}#{n:03d}"},
                        "connectionId": {"S": f"c{n}"},
                        "name": {"S": f"user {n}"},
                        "n": {"N": str(n)},
                        "from": {"M": {"name": {"S": f"user {n}"}, "guest": {"BOOL": n % 2 == 0}}},
                        "tags": {"L": [{"S": "a"}, {"N": str(n)}]},
                        "set": {"SS": ["x", f"y{n}"]},
                        "blob": {"B": bytes([n, 1, 2])},
                    },
                )
        yield client


def _all_pages(answer: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request = dict(body)
    for _ in range(200):
        page = answer(request)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    raise AssertionError("pagination did not end")


queries = st.fixed_dictionaries(
    {
        "TableName": st.just(TABLE),
        "KeyConditionExpression": st.sampled_from(
            [
                "PK = :pk",
                "PK = :pk AND begins_with(SK, :prefix)",
                "#p = :pk AND begins_with(#s, :prefix)",
                "PK = :pk AND SK = :sk",
            ]
        ),
        "ExpressionAttributeValues": st.fixed_dictionaries(
            {
                ":pk": st.sampled_from([{"S": "ROOM#a"}, {"S": "ROOM#b"}, {"S": "ROOM#none"}]),
                ":prefix": st.sampled_from(
                    [{"S": "CONN#"}, {"S": "MSG#"}, {"S": "CONN#01"}, {"S": "X"}]
                ),
                ":sk": st.sampled_from([{"S": "CONN#001"}, {"S": "MSG#003"}, {"S": "nope"}]),
            }
        ),
    },
    optional={
        "Limit": st.integers(min_value=3, max_value=40),
        "ScanIndexForward": st.booleans(),
        "ProjectionExpression": st.sampled_from(
            ["connectionId", "connectionId, #n", "SK,n", "#f, tags", "blob, #st", "SK"]
        ),
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=queries)
def test_fast_path_matches_moto(table: Any, body: dict[str, Any]) -> None:
    used = {":pk"}
    if "prefix" in body["KeyConditionExpression"]:
        used.add(":prefix")
    if ":sk" in body["KeyConditionExpression"]:
        used.add(":sk")
    body["ExpressionAttributeValues"] = {
        k: v for k, v in body["ExpressionAttributeValues"].items() if k in used
    }
    names = {}
    if "#p" in body["KeyConditionExpression"]:
        names.update({"#p": "PK", "#s": "SK"})
    projection = body.get("ProjectionExpression", "")
    if "#n" in projection:
        names["#n"] = "name"
    if "#f" in projection:
        names["#f"] = "from"
    if "#st" in projection:
        names["#st"] = "set"
    if names:
        body["ExpressionAttributeNames"] = names
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables

    def fast(request: dict[str, Any]) -> dict[str, Any]:
        answer = fast_query(tables, request)
        assert answer is not None, f"the fast path declined {request}"
        return answer

    def moto(request: dict[str, Any]) -> dict[str, Any]:
        return dict(table.query(**request))

    try:
        expected = _all_pages(moto, body)
    except ClientError:
        # moto refuses it (a reserved word, say): the fast path must leave it to moto.
        assert fast_query(tables, body) is None
        return
    assert _all_pages(fast, body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"KeyConditionExpression": "PK = :pk", "FilterExpression": "n > :z"},
        {"KeyConditionExpression": "PK = :pk AND SK > :pk"},
        {"KeyConditionExpression": "PK = :pk", "IndexName": "byName"},
        {"KeyConditionExpression": "PK = :pk", "ProjectionExpression": "a.b"},
        {"KeyConditionExpression": "PK = :pk", "ReturnConsumedCapacity": "TOTAL"},
        {"KeyConditionExpression": "SK = :pk"},
        {"KeyConditionExpression": "PK = :pk", "Limit": 0},
        {"KeyConditions": {}},
    ],
)
def test_other_shapes_are_left_to_moto(table: Any, body: dict[str, Any]) -> None:
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    request = {
        "TableName": TABLE,
        "ExpressionAttributeValues": {":pk": {"S": "ROOM#a"}, ":z": {"N": "0"}},
        **body,
    }
    assert fast_query(tables, request) is None


def test_unknown_table_and_type_mismatch_are_left_to_moto(table: Any) -> None:
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    base = {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "x"}}}
    assert fast_query(tables, {"TableName": "missing", **base}) is None
    wrong_type = {**base, "ExpressionAttributeValues": {":pk": {"N": "1"}}}
    assert fast_query(tables, {"TableName": TABLE, **wrong_type}) is None
