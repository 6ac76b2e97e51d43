"""Make moto's DynamoDB fast enough to serve a chat, without changing what it answers.

moto's TransactWriteItems deep-copies every table it touches, once per item of the
transaction, so it can roll back: a `$connect` into a table of 1,000 connections costs
hundreds of milliseconds and grows with the table. Here the copy is limited to the items
the transaction names (the only ones it can change), and those are what a failed
transaction restores. Applied only inside the embedded DynamoDB process.
"""

from __future__ import annotations

import copy
import types
from typing import Any

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    real_deepcopy = copy.deepcopy

    def deepcopy_except_tables(value: Any, memo: Any = None) -> Any:
        # The original rollback assigns the "copy" back: the same table object is a no-op.
        return value if isinstance(value, Table) else real_deepcopy(value, memo)

    shim = types.SimpleNamespace(**{**vars(copy), "deepcopy": deepcopy_except_tables})
    models.copy = shim  # type: ignore[attr-defined]
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        snapshot: list[tuple[Table, DynamoType, DynamoType | None, Any]] = []
        for entry in transact_items:
            if len(entry) != 1:
                continue
            (_, operation), = entry.items()
            table = self.tables.get(operation.get("TableName"))
            if table is None:
                continue
            key = operation.get("Key") or operation.get("Item") or {}
            if table.hash_key_attr not in key:
                continue
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in key:
                    continue
                range_value = DynamoType(key[table.range_key_attr])
            current = table.get_item(hash_value, range_value)
            snapshot.append((table, hash_value, range_value, real_deepcopy(current)))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, item in reversed(snapshot):
                table.delete_item(hash_value, range_value)
                if item is not None:
                    if range_value is not None:
                        table.items[hash_value][range_value] = item
                    else:
                        table.items[hash_value] = item
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _applied = True
