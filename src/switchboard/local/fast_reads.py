"""Fast paths for the reads every message makes, inside the embedded DynamoDB.

Each chat message reads its sender's record (GetItem) and the room's members (Query).
moto answers a GetItem through its generic request and serialisation layers (about 1.5 ms
of its ~2 ms) and a base-table Query by walking every item of the table, deep-copying the
matches and serialising them through a generic layer: about 0.2 ms per item, so a room
of 500 costs ~100 ms and grows with the whole table. This path answers the common shape,
`pk = :v [AND begins_with(sk, :p) | AND sk = :v]` with an optional top-level projection,
Limit, ExclusiveStartKey and ScanIndexForward, from the partition alone and from moto's
own data, so every write still goes through moto. A GetItem by its full key, with an
optional top-level projection, is answered from the partition the same way. Any other
shape (indexes, filters, other operators, bad input) returns None and moto answers as before.
"""

from __future__ import annotations

import re
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

#: Bare names DynamoDB refuses in expressions; a query using one is left to moto to refuse.
_RESERVED = frozenset(word.upper() for word in ReservedKeywords.get_reserved_keywords())

#: DynamoDB stops a page at 1 MB of data read.
RESULT_SIZE_LIMIT = 1_000_000
_ALLOWED = {
    "TableName",
    "KeyConditionExpression",
    "ExpressionAttributeValues",
    "ExpressionAttributeNames",
    "ProjectionExpression",
    "Limit",
    "ExclusiveStartKey",
    "ScanIndexForward",
    "ConsistentRead",
    "ReturnConsumedCapacity",
}
_NAME = r"(#?[A-Za-z0-9_]+)"
_VALUE = r"(:[A-Za-z0-9_]+)"
_KEY_CONDITION = re.compile(
    rf"^\s*{_NAME}\s*=\s*{_VALUE}\s*"
    rf"(?:(?i:AND)\s+(?:(?i:begins_with)\s*\(\s*{_NAME}\s*,\s*{_VALUE}\s*\)|{_NAME}\s*=\s*{_VALUE})\s*)?$"
)
_PROJECTED_NAME = re.compile(r"^#?[A-Za-z0-9_]+$")


def fast_query(tables: dict[str, Any], body: dict[str, Any]) -> dict[str, Any] | None:
    """The Query response, or None when moto must answer it."""
    if not set(body) <= _ALLOWED or body.get("ReturnConsumedCapacity", "NONE") != "NONE":
        return None
    table = tables.get(str(body.get("TableName")))
    expression = body.get("KeyConditionExpression")
    if table is None or table.range_key_attr is None or not isinstance(expression, str):
        return None
    match = _KEY_CONDITION.match(expression)
    if match is None:
        return None
    maps = _expression_maps(body)
    if maps is None:
        return None
    names, values = maps
    hash_name, hash_value, prefix_name, prefix_value, eq_name, eq_value = match.groups()

    def name(token: str) -> str | None:
        if token.startswith("#"):
            return names.get(token)
        return None if token.upper() in _RESERVED else token

    def value(token: str) -> DynamoType | None:
        raw = values.get(token)
        return DynamoType(raw) if isinstance(raw, dict) and len(raw) == 1 else None

    hash_key = value(hash_value)
    if name(hash_name) != table.hash_key_attr or hash_key is None:
        return None
    if hash_key.type != table.hash_key_type:
        return None
    range_name = prefix_name or eq_name
    range_token = prefix_value or eq_value
    range_key = value(range_token) if range_token else None
    if range_name is not None and (
        name(range_name) != table.range_key_attr
        or range_key is None
        or range_key.type != table.range_key_type
        or (prefix_name and range_key.type not in ("S", "B"))
    ):
        return None
    understood, projection, projected_names = _projection(body.get("ProjectionExpression"), names)
    if not understood:
        return None
    # DynamoDB refuses names and values that no expression uses: leave that to moto.
    used_names = {t for t in (hash_name, range_name) if t and t.startswith("#")}
    used_values = {t for t in (hash_value, range_token) if t}
    if set(names) != used_names | projected_names or set(values) != used_values:
        return None
    limit = body.get("Limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        return None

    partition = table.items.get(hash_key) or {}
    if eq_name:
        candidates = [partition[range_key]] if range_key in partition else []
    else:
        # By each key's value, worked out once per item: sorting on the DynamoType itself
        # compared through its Python `__lt__` n log n times, most of a 500-member Query.
        # The order is the same (DynamoType compares its `cast_value`).
        candidates = sorted(partition.values(), key=lambda item: item.range_key.cast_value)
        if prefix_name:
            prefix = range_key.value  # type: ignore[union-attr]
            candidates = [i for i in candidates if str(i.range_key.value).startswith(prefix)]
    forward = body.get("ScanIndexForward", True) is not False
    if not forward:
        candidates.reverse()
    start = body.get("ExclusiveStartKey")
    if start is not None:
        if (
            table.range_key_attr not in start
            or table.hash_key_attr not in start
            # A key from another partition: moto answers as it sees fit (DynamoDB refuses it).
            or DynamoType(start[table.hash_key_attr]) != hash_key
        ):
            return None
        boundary = DynamoType(start[table.range_key_attr]).cast_value
        candidates = [
            i
            for i in candidates
            if (i.range_key.cast_value > boundary if forward else i.range_key.cast_value < boundary)
        ]

    items: list[dict[str, Any]] = []
    size = 0
    last_key = None
    for position, item in enumerate(candidates):
        item_size = _item_size(item)
        if (limit is not None and len(items) == limit) or size + item_size > RESULT_SIZE_LIMIT:
            previous = candidates[position - 1]
            last_key = {
                table.hash_key_attr: previous.hash_key.to_json(),
                table.range_key_attr: previous.range_key.to_json(),
            }
            break
        size += item_size
        items.append(_attributes(item, projection))
    response: dict[str, Any] = {"Count": len(items), "ScannedCount": len(items), "Items": items}
    if last_key is not None:
        response["LastEvaluatedKey"] = last_key
    return response


_GET_ALLOWED = {
    "TableName",
    "Key",
    "ConsistentRead",
    "ProjectionExpression",
    "ExpressionAttributeNames",
    "ReturnConsumedCapacity",
}


def fast_get_item(tables: dict[str, Any], body: dict[str, Any]) -> dict[str, Any] | None:
    """The GetItem response, or None when moto must answer it."""
    if not set(body) <= _GET_ALLOWED or body.get("ReturnConsumedCapacity", "NONE") != "NONE":
        return None
    if not isinstance(body.get("ConsistentRead", False), bool):
        return None
    table = tables.get(str(body.get("TableName")))
    key = body.get("Key")
    if table is None or not isinstance(key, dict):
        return None
    key_schema = [(table.hash_key_attr, table.hash_key_type)]
    if table.range_key_attr is not None:
        key_schema.append((table.range_key_attr, table.range_key_type))
    if set(key) != {attr for attr, _ in key_schema}:
        return None  # a missing or extra key attribute: moto's ValidationException
    parts: list[DynamoType] = []
    for attr, key_type in key_schema:
        raw = key[attr]
        if not isinstance(raw, dict) or len(raw) != 1:
            return None
        ((type_, value),) = raw.items()
        # String keys only (what Switchboard's tables use): numbers and binaries, with
        # their several spellings of one value, are left to moto.
        if type_ != "S" or key_type != "S" or not isinstance(value, str) or value == "":
            return None
        parts.append(DynamoType(raw))
    names = body.get("ExpressionAttributeNames")
    if names is not None and (not isinstance(names, dict) or not names):
        return None  # malformed or empty: moto's ValidationException
    understood, projection, projected_names = _projection(
        body.get("ProjectionExpression"), names or {}
    )
    if not understood or set(names or {}) != projected_names:
        return None  # unused names too: moto's ValidationException
    partition = table.items.get(parts[0])
    # A table with a sort key keeps a dict of items per partition; without, the item itself.
    item = partition.get(parts[1]) if partition is not None and len(parts) == 2 else partition
    return {} if item is None else {"Item": _attributes(item, projection)}


def _attributes(item: Any, projection: list[str] | None) -> dict[str, Any]:
    if not projection:
        return item.to_json()["Attributes"]  # type: ignore[no-any-return]
    attrs = item.attrs
    # Top-level scalars serialise directly; maps, lists and sets go through moto.
    if all(k not in attrs or not _nested(attrs[k]) for k in projection):
        return {k: attrs[k].to_json() for k in projection if k in attrs}
    full = item.to_json()["Attributes"]
    return {k: full[k] for k in projection if k in full}


def _expression_maps(body: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]] | None:
    """ExpressionAttributeNames and -Values, or None for moto to refuse (not maps, or empty)."""
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    if not isinstance(names, dict) or not isinstance(values, dict):
        return None
    if ("ExpressionAttributeNames" in body and not names) or (
        "ExpressionAttributeValues" in body and not values
    ):
        return None
    return names, values


def _item_size(item: Any) -> int:
    """moto's `Item.size()`, with string attributes (most of a chat's) counted inline.

    moto dispatches every attribute through five type checks; a Query of a 500-member room
    spent most of its time here, measuring items against the 1 MB page limit.
    """
    total = 0
    for name, value in item.attrs.items():
        total += len(name.encode())
        if value.type == "S":
            total += len(value.value.encode())
        else:
            total += value.size()
    return total


def _nested(value: DynamoType) -> bool:
    return isinstance(value.value, (dict, list))


def _projection(expression: Any, names: dict[str, str]) -> tuple[bool, list[str] | None, set[str]]:
    """(understood, top-level attributes or None for all, the `#name` tokens it uses).

    Not understood (moto answers): anything but top-level names, a reserved word, an
    undefined `#name`, or one attribute twice (DynamoDB: "Two document paths overlap").
    """
    if expression is None:
        return True, None, set()
    if not isinstance(expression, str):
        return False, None, set()
    result: list[str] = []
    tokens: set[str] = set()
    for part in expression.split(","):
        token = part.strip()
        resolved = names.get(token) if token.startswith("#") else token
        if not _PROJECTED_NAME.match(token) or resolved is None or token.upper() in _RESERVED:
            return False, None, set()
        if resolved in result:
            return False, None, set()
        result.append(resolved)
        if token.startswith("#"):
            tokens.add(token)
    return True, result, tokens
