"""The embedded DynamoDB's patches of moto that keep a long-running server from growing."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from moto.core.model_instances import model_data
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table

from switchboard.local import moto_patches
from tests.support.template import create_table

TABLE = "patched"


def table_with(items: list[tuple[str, str]]) -> Table:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_table(client, TABLE)  # as template.yaml defines the table
    for pk, sk in items:
        client.put_item(TableName=TABLE, Item={"PK": {"S": pk}, "SK": {"S": sk}})
    table: Table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables[TABLE]
    return table


def delete(pk: str, sk: str) -> None:
    boto3.client("dynamodb", region_name="us-east-1").delete_item(
        TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}
    )


def test_deleting_the_last_item_of_a_partition_drops_the_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Table, "delete_item", moto_patches.delete_item)
    with mock_aws():
        table = table_with([("CONN#a", "META"), ("ROOM#x", "CONN#a"), ("ROOM#x", "CONN#b")])
        delete("CONN#a", "META")
        delete("ROOM#x", "CONN#a")
        assert [key.value for key in table.items] == ["ROOM#x"]
        assert [key.value for key in table.items[next(iter(table.items))]] == ["CONN#b"]
        delete("ROOM#x", "CONN#b")
        delete("ROOM#x", "CONN#b")  # deleting what is not there changes nothing
        assert not table.items


def test_model_instances_are_not_kept_once_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    for service in model_data.values():
        for model in service.values():
            # Put each list back afterwards: other tests share moto's classes.
            monkeypatch.setattr(model, "instances_tracked", model.instances_tracked)  # type: ignore[attr-defined]
    moto_patches.forget_instances()
    with mock_aws():
        table_with([(f"CONN#{n}", "META") for n in range(20)])
        for n in range(20):
            delete(f"CONN#{n}", "META")
    assert len(Item.instances_tracked) == 0  # type: ignore[attr-defined]
