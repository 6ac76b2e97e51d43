"""The embedded DynamoDB's fast Query path answers exactly as moto does, page for page."""

from __future__ import annotations

import json
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

from switchboard.local.fast_reads import fast_get_item, fast_query
from tests.support.template import create_table

TABLE = "fast"


@pytest.fixture(scope="module")
def table() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)  # as template.yaml defines the table
        for room in ("a", "b"):
            # Written out of key order, as connection ids arrive: the answer must be sorted.
            for n in sorted(range(30), key=lambda n: n * 7 % 30):
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
        # DynamoDB refuses these: names or values no expression uses, one path twice.
        {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeNames": {"#x": "SK"}},
        {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeNames": {}},
        {
            "KeyConditionExpression": "PK = :pk",
            "ProjectionExpression": "#nm",
            "ExpressionAttributeNames": {"#n": "name", "#nm": "n"},
        },
        {"KeyConditionExpression": "PK = :pk", "ProjectionExpression": "SK, SK"},
        {
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "ROOM#a"}, ":unused": {"S": "x"}},
        },
    ],
)
def test_other_shapes_are_left_to_moto(table: Any, body: dict[str, Any]) -> None:
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    values = {":pk": {"S": "ROOM#a"}}
    if "FilterExpression" in body:
        values[":z"] = {"N": "0"}
    request = {"TableName": TABLE, "ExpressionAttributeValues": values, **body}
    assert fast_query(tables, request) is None


def test_the_shapes_left_to_moto_are_answered_when_well_formed(table: Any) -> None:
    """The refusals above are for what they contain, not for their common part."""
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    request = {
        "TableName": TABLE,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "ROOM#a"}},
        "ProjectionExpression": "#nm",
        "ExpressionAttributeNames": {"#nm": "n"},
    }
    assert fast_query(tables, request) is not None


@pytest.mark.parametrize("start_partition", ["ROOM#b", "ROOM#0", "ROOM#z"])
def test_a_start_key_from_another_partition_is_left_to_moto(
    table: Any, start_partition: str
) -> None:
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    request = {
        "TableName": TABLE,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "ROOM#a"}},
        "ExclusiveStartKey": {"PK": {"S": start_partition}, "SK": {"S": "CONN#010"}},
    }
    assert fast_query(tables, request) is None


def test_unknown_table_and_type_mismatch_are_left_to_moto(table: Any) -> None:
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    base = {"KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "x"}}}
    assert fast_query(tables, {"TableName": "missing", **base}) is None
    wrong_type = {**base, "ExpressionAttributeValues": {":pk": {"N": "1"}}}
    assert fast_query(tables, {"TableName": TABLE, **wrong_type}) is None


# ---------------------------------------------------------------------------- GetItem

HASH_TABLE = "fast-hash"
NUMBER_TABLE = "fast-number"
#: Every type a Switchboard item may hold but binaries (which the server's json.dumps of
#: the fast answer refuses, so moto answers those).
GET_ATTRIBUTES: dict[str, Any] = {
    "connectionId": {"S": "c1"},
    "name": {"S": "Ada"},
    "n": {"N": "1.50"},
    "isGuest": {"BOOL": True},
    "cleared": {"NULL": True},
    "from": {"M": {"name": {"S": "Ada"}, "guest": {"BOOL": False}}},
    "tags": {"L": [{"S": "a"}, {"N": "2"}]},
    "set": {"SS": ["x", "y"]},
    "nums": {"NS": ["1", "2"]},
}


@pytest.fixture(scope="module")
def get_tables(table: Any) -> Any:
    """Beside `fast`: a hash-only table and one keyed by a number, with GET_ATTRIBUTES items."""
    client = table
    for name, key_type in ((HASH_TABLE, "S"), (NUMBER_TABLE, "N")):
        client.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": key_type}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
    client.put_item(
        TableName=TABLE, Item={"PK": {"S": "ROOM#get"}, "SK": {"S": "CONN#1"}, **GET_ATTRIBUTES}
    )
    client.put_item(TableName=HASH_TABLE, Item={"id": {"S": "CONN#1"}, **GET_ATTRIBUTES})
    client.put_item(TableName=NUMBER_TABLE, Item={"id": {"N": "7"}, **GET_ATTRIBUTES})
    return client


def moto_get_item(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    """moto's own answer to the GetItem, as the JSON it put on the wire."""
    wire: list[bytes] = []

    def keep(http_response: Any, **_: Any) -> None:
        wire.append(http_response.content)

    client.meta.events.register("after-call.dynamodb.GetItem", keep)
    try:
        client.get_item(**body)
    finally:
        client.meta.events.unregister("after-call.dynamodb.GetItem", keep)
    answer: dict[str, Any] = json.loads(wire[0])
    return answer


def fast_answer(body: dict[str, Any]) -> dict[str, Any] | None:
    """The fast path's answer, JSON-encoded and decoded as the embedded server sends it."""
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    answer = fast_get_item(tables, body)
    return None if answer is None else dict(json.loads(json.dumps(answer)))


def sets_sorted(value: Any) -> Any:
    """The same answer with the members of every set in order: DynamoDB's sets have none,
    and moto's projection lists them in Python's set order, which varies per process."""
    if isinstance(value, dict):
        return {
            k: sorted(v) if k in ("SS", "NS", "BS") else sets_sorted(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [sets_sorted(v) for v in value]
    return value


RANGE_KEY = {"PK": {"S": "ROOM#get"}, "SK": {"S": "CONN#1"}}
HASH_KEY = {"id": {"S": "CONN#1"}}
KEYS = {
    "present": (TABLE, RANGE_KEY),
    "absent-sort-key": (TABLE, {"PK": {"S": "ROOM#get"}, "SK": {"S": "CONN#2"}}),
    "absent-partition": (TABLE, {"PK": {"S": "ROOM#nobody"}, "SK": {"S": "CONN#1"}}),
    "present-hash-only": (HASH_TABLE, HASH_KEY),
    "absent-hash-only": (HASH_TABLE, {"id": {"S": "CONN#2"}}),
}
#: (ProjectionExpression, ExpressionAttributeNames) the fast path answers itself.
PROJECTIONS: dict[str, tuple[str | None, dict[str, str] | None]] = {
    "whole-item": (None, None),
    "one-scalar": ("connectionId", None),
    "scalars": ("connectionId, n,isGuest ,cleared", None),
    "named-scalar": ("connectionId, #n", {"#n": "name"}),
    "key-by-name": ("#p, SK", {"#p": "PK"}),
    "nested-values": ("#f, tags, #s, nums", {"#f": "from", "#s": "set"}),
    "nested-and-scalar": ("connectionId, #f", {"#f": "from"}),
    "not-in-item": ("nothing, connectionId", None),
}
READ_OPTIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "consistent": {"ConsistentRead": True},
    "eventual": {"ConsistentRead": False},
    "no-capacity": {"ReturnConsumedCapacity": "NONE"},
}


def get_body(
    table_name: str,
    key: dict[str, Any],
    projection: str | None = None,
    names: dict[str, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"TableName": table_name, "Key": key, **options}
    if projection is not None:
        body["ProjectionExpression"] = projection
    if names is not None:
        body["ExpressionAttributeNames"] = names
    return body


@pytest.mark.parametrize("options", READ_OPTIONS.values(), ids=READ_OPTIONS.keys())
@pytest.mark.parametrize("projection", PROJECTIONS.values(), ids=PROJECTIONS.keys())
@pytest.mark.parametrize("where", KEYS.values(), ids=KEYS.keys())
def test_get_item_fast_path_matches_moto(
    get_tables: Any,
    where: tuple[str, dict[str, Any]],
    projection: tuple[str | None, dict[str, str] | None],
    options: dict[str, Any],
) -> None:
    body = get_body(*where, *projection, **options)
    fast = fast_answer(body)
    assert fast is not None, f"the fast path declined {body}"
    assert sets_sorted(fast) == sets_sorted(moto_get_item(get_tables, body))


def test_get_item_of_a_present_item_is_not_empty(get_tables: Any) -> None:
    """The comparison above means something: present keys do find the item."""
    assert fast_answer(get_body(TABLE, RANGE_KEY, "connectionId")) == {
        "Item": {"connectionId": {"S": "c1"}}
    }
    assert fast_answer(get_body(HASH_TABLE, HASH_KEY)) == {
        "Item": {"id": {"S": "CONN#1"}, **GET_ATTRIBUTES}
    }


@pytest.mark.parametrize(
    ("projection", "names"),
    [
        ("#f.#m", {"#f": "from", "#m": "name"}),
        ("from.guest", None),
        ("tags[0]", None),
        ("connectionId, #f.#m", {"#f": "from", "#m": "name"}),
    ],
    ids=["named-path", "path", "list-element", "scalar-and-path"],
)
def test_get_item_nested_paths_are_left_to_moto(
    get_tables: Any, projection: str, names: dict[str, str] | None
) -> None:
    body = get_body(TABLE, RANGE_KEY, projection, names)
    assert fast_answer(body) is None
    assert "Item" in moto_get_item(get_tables, body), "moto answers these"


LEFT_TO_MOTO: dict[str, dict[str, Any]] = {
    "extra-key-attribute": get_body(TABLE, {**RANGE_KEY, "name": {"S": "Ada"}}),
    "missing-sort-key": get_body(TABLE, {"PK": RANGE_KEY["PK"]}),
    "missing-hash-key": get_body(TABLE, {"SK": RANGE_KEY["SK"]}),
    "other-attribute-as-key": get_body(HASH_TABLE, {"name": {"S": "Ada"}}),
    "number-for-string-key": get_body(TABLE, {**RANGE_KEY, "SK": {"N": "1"}}),
    "binary-for-string-key": get_body(HASH_TABLE, {"id": {"B": "AQI="}}),
    "two-types-in-a-key": get_body(HASH_TABLE, {"id": {"S": "CONN#1", "N": "1"}}),
    "key-not-typed": get_body(HASH_TABLE, {"id": "CONN#1"}),
    "key-value-not-a-string": get_body(HASH_TABLE, {"id": {"S": 1}}),
    "number-keyed-table": get_body(NUMBER_TABLE, {"id": {"N": "7"}}),
    "string-for-number-key": get_body(NUMBER_TABLE, {"id": {"S": "7"}}),
    "empty-hash-key": get_body(HASH_TABLE, {"id": {"S": ""}}),
    "empty-sort-key": get_body(TABLE, {**RANGE_KEY, "SK": {"S": ""}}),
    "key-not-a-map": get_body(HASH_TABLE, [HASH_KEY]),  # type: ignore[arg-type]
    "unused-name": get_body(TABLE, RANGE_KEY, "connectionId", {"#n": "name"}),
    "names-without-projection": get_body(TABLE, RANGE_KEY, None, {"#n": "name"}),
    "names-not-a-map": {**get_body(TABLE, RANGE_KEY, "#n"), "ExpressionAttributeNames": ["#n"]},
    "undefined-name": get_body(TABLE, RANGE_KEY, "#n"),
    "reserved-word": get_body(TABLE, RANGE_KEY, "name"),
    "empty-projection": get_body(TABLE, RANGE_KEY, ""),
    "trailing-comma": get_body(TABLE, RANGE_KEY, "connectionId,"),
    "projection-not-a-string": get_body(TABLE, RANGE_KEY, ["connectionId"]),  # type: ignore[arg-type]
    "total-capacity": get_body(TABLE, RANGE_KEY, ReturnConsumedCapacity="TOTAL"),
    "indexes-capacity": get_body(TABLE, RANGE_KEY, ReturnConsumedCapacity="INDEXES"),
    "unknown-table": get_body("missing", RANGE_KEY),
    "consistent-read-string": get_body(TABLE, RANGE_KEY, ConsistentRead="true"),
    "consistent-read-number": get_body(TABLE, RANGE_KEY, ConsistentRead=1),
    "legacy-attributes-to-get": get_body(TABLE, RANGE_KEY, AttributesToGet=["connectionId"]),
}


@pytest.mark.parametrize("body", LEFT_TO_MOTO.values(), ids=LEFT_TO_MOTO.keys())
def test_get_item_other_shapes_are_left_to_moto(get_tables: Any, body: dict[str, Any]) -> None:
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables
    assert fast_get_item(tables, body) is None


@pytest.mark.parametrize(
    ("projection", "names"),
    [
        pytest.param("#nm", {"#n": "name", "#nm": "n"}, id="unused-name-prefix-of-a-used-one"),
        pytest.param("connectionId, connectionId", None, id="same-path-twice"),
        pytest.param("connectionId", {}, id="empty-names"),
    ],
)
def test_get_item_that_moto_refuses_is_left_to_moto(
    get_tables: Any, projection: str, names: dict[str, str] | None
) -> None:
    """DynamoDB (and moto) refuse these with a ValidationException: the fast path must not
    answer them with an item."""
    body = get_body(TABLE, RANGE_KEY, projection, names)
    with pytest.raises(ClientError) as refused:
        get_tables.get_item(**body)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert fast_answer(body) is None
