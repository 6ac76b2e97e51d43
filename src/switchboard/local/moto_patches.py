"""Make moto's DynamoDB fast enough to serve a chat, without changing what it answers.

moto's TransactWriteItems deep-copies every table it touches, once per item of the
transaction, so it can roll back: a `$connect` into a table of 1,000 connections costs
hundreds of milliseconds and grows with the table. Here the copy is limited to the items
the transaction names (the only ones it can change), and those are what a failed
transaction restores.

moto also keeps what a server that runs for hours must not: every model instance it ever
made, and an empty partition for every key that ever held an item. Both are dropped here.
Applied only inside the embedded DynamoDB process.
"""

from __future__ import annotations

import copy
import types
from typing import Any

from moto.core.model_instances import model_data
from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

Snapshot = list[tuple[Table, DynamoType, DynamoType | None, Any]]
_original_transact = DynamoDBBackend.transact_write_items
_original_delete_item = Table.delete_item
_real_deepcopy = copy.deepcopy


def _deepcopy_except_tables(value: Any, memo: Any = None) -> Any:
    # moto's rollback assigns its "copy" back: the same table object makes that a no-op.
    return value if isinstance(value, Table) else _real_deepcopy(value, memo)


def _snapshot(backend: Any, transact_items: list[dict[str, Any]]) -> Snapshot:
    """A deep copy of every item the transaction names (absent ones as None)."""
    taken: Snapshot = []
    for entry in transact_items:
        if len(entry) != 1:
            continue
        ((_, operation),) = entry.items()
        table = backend.tables.get(operation.get("TableName"))
        key = operation.get("Key") or operation.get("Item") or {}
        if table is None or table.hash_key_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in key:
                continue
            range_value = DynamoType(key[table.range_key_attr])
        current = table.get_item(hash_value, range_value)
        taken.append((table, hash_value, range_value, _real_deepcopy(current)))
    return taken


def _restore(snapshot: Snapshot) -> None:
    for table, hash_value, range_value, item in reversed(snapshot):
        table.delete_item(hash_value, range_value)
        if item is None:
            continue
        if range_value is not None:
            table.items[hash_value][range_value] = item
        else:
            table.items[hash_value] = item


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    snapshot = _snapshot(self, transact_items)
    try:
        _original_transact(self, transact_items)
    except Exception:
        _restore(snapshot)
        raise


class _Untracked(list[Any]):
    """A list that keeps nothing: what moto's models record every instance in."""

    def append(self, _: Any) -> None:
        return None


def forget_instances() -> None:
    """Stop moto recording every model instance it ever made.

    moto keeps each instance of its models (every DynamoDB item, and each copy of one it
    takes for a condition or a rollback) in a class-wide list, for its dashboard. A test's
    moto lives for one test; the embedded DynamoDB lives as long as the gateway, and grew
    by about 19 KB with each connection that came and went.
    """
    for service in model_data.values():
        for model in service.values():
            model.instances_tracked = _Untracked()  # type: ignore[attr-defined]


def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Any:
    """moto's delete, then drop the partition it emptied (moto keeps an empty one for each
    connection that ever was: its `CONN#` and `USER#` partitions)."""
    item = _original_delete_item(self, hash_key, range_key)
    if range_key is not None and hash_key in self.items and not self.items[hash_key]:
        del self.items[hash_key]
    return item


def apply() -> None:
    """Install the item-level rollback, stop instance tracking, drop empty partitions
    (idempotent)."""
    forget_instances()
    Table.delete_item = delete_item  # type: ignore[method-assign]
    shim = types.SimpleNamespace(**{**vars(copy), "deepcopy": _deepcopy_except_tables})
    setattr(models, "copy", shim)  # noqa: B010 - replaces moto's module reference on purpose
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
