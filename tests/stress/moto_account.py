"""An in-process stack for property-based runs: one moto account shared by many examples.

The unit tests give every test a fresh moto account (function-scoped fixtures); hypothesis
runs hundreds of examples per test, so here one account lives for a whole test and each
example checks the table's invariants instead of an empty table. Built from the same pieces
as `tests/unit/conftest.py` (its serialised moto and shared botocore loader), so the stack
under test is the one the unit tests trust.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb import models
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends

from switchboard import runtime
from switchboard.local import moto_patches
from switchboard.structured_log import JsonFormatter
from tests.support import template
from tests.unit.conftest import (
    _CLEARED,
    _LOADER,
    MANAGEMENT_ENDPOINT,
    TABLE_NAME,
    _one_request_at_a_time,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

LogLines = Callable[[], list[dict[str, Any]]]


@contextmanager
def moto_account(**environment: str) -> Iterator[DynamoDBClient]:
    """The template's table in a fresh moto account, and the variables template.yaml sets."""
    with pytest.MonkeyPatch.context() as patch:
        for name in _CLEARED:
            patch.delenv(name, raising=False)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "TABLE_NAME": TABLE_NAME,
            "MANAGEMENT_ENDPOINT": MANAGEMENT_ENDPOINT,
            **environment,
        }.items():
            patch.setenv(name, value)
        patch.setattr(BotocoreStubber, "process_request", _one_request_at_a_time)
        # The embedded DynamoDB's item-level rollback (same answers): moto's own deep-copies
        # the table on every transaction, and these runs grow it for hundreds of examples.
        patch.setattr(
            models,
            "copy",
            types.SimpleNamespace(
                **{**vars(copy), "deepcopy": moto_patches._deepcopy_except_tables}
            ),
        )
        patch.setattr(DynamoDBBackend, "transact_write_items", moto_patches.transact_write_items)
        runtime.reset()
        try:
            with mock_aws():
                session = botocore.session.get_session()
                session.register_component("data_loader", _LOADER)
                boto3.setup_default_session(botocore_session=session)
                client: DynamoDBClient = boto3.client("dynamodb")
                template.create_table(client, TABLE_NAME)
                yield client
        finally:
            runtime.reset()


def table_items() -> list[dict[str, Any]]:
    """Every item now, in the wire format a Scan returns, read from moto's backend.

    A Scan through boto3 costs moto ~50 ms of response serialisation for a few dozen items,
    and these runs read the whole table after every example. Handlers have finished all
    their writes (history and registrations included) by the time they return.
    """
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    table = backend.get_table(TABLE_NAME)
    return [dict(item.to_json()["Attributes"]) for item in table.all_items()]


@contextmanager
def captured_logs(*logger_names: str) -> Iterator[LogLines]:
    """Every JSON line the named loggers write while the block runs (their stdout swapped)."""
    buffer = io.StringIO()
    swapped: list[tuple[logging.StreamHandler[Any], Any]] = []
    for name in logger_names:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and isinstance(
                handler.formatter, JsonFormatter
            ):
                swapped.append((handler, handler.setStream(buffer)))
    assert swapped, f"no JSON log handler on {logger_names}"
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        for handler, previous in swapped:
            if previous is not None:
                handler.setStream(previous)
