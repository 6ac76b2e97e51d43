"""One moto account per test: the table from template.yaml, moto's @connections, a fresh runtime."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws
from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend
from moto.core.botocore_stubber import BotocoreStubber

from switchboard import broadcast, protocol, runtime
from switchboard.structured_log import JsonFormatter, get_logger
from tests.support import dynamodb, template
from tests.support.management_api import ManagementFaults
from tests.support.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

TABLE_NAME = "switchboard-test-ConnectionsTable"
#: Matches the fixture events' domainName and stage, as MANAGEMENT_ENDPOINT would in AWS.
MANAGEMENT_ENDPOINT = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"

_CLEARED = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",
    "FANOUT_CONCURRENCY",
    "CONNECTION_TTL_SECONDS",
    "LOG_LEVEL",
    "HISTORY_RETENTION_DAYS",
)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and the variables template.yaml sets; no runtime left from before."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("MANAGEMENT_ENDPOINT", MANAGEMENT_ENDPOINT)
    runtime.reset()
    yield
    runtime.reset()


#: moto gives every test a fresh boto3 session, which re-reads botocore's JSON service models
#: for each client (~0.1 s apiece); sharing one loader keeps them parsed across tests.
_LOADER = botocore.loaders.create_loader()


#: moto is not thread-safe (its TransactWriteItems deep-copies every table it touches, for the
#: rollback, while other fan-out threads prune); DynamoDB is. One moto request at a time is a
#: history the real service could produce, so the fan-out threads stay, moto's races go.
_MOTO_LOCK = threading.Lock()
_process_request = BotocoreStubber.process_request


def _one_request_at_a_time(self: BotocoreStubber, request: Any) -> Any:
    with _MOTO_LOCK:
        return _process_request(self, request)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(BotocoreStubber, "process_request", _one_request_at_a_time)
    with mock_aws():
        session = botocore.session.get_session()
        session.register_component("data_loader", _LOADER)
        boto3.setup_default_session(botocore_session=session)
        yield


@pytest.fixture
def db(aws: None) -> DynamoDBClient:
    client: DynamoDBClient = boto3.client("dynamodb")
    return client


@pytest.fixture
def table(db: DynamoDBClient) -> str:
    """The ConnectionsTable of template.yaml, empty."""
    template.create_table(db, TABLE_NAME)
    return TABLE_NAME


@pytest.fixture
def items(db: DynamoDBClient, table: str) -> Callable[[], list[dict[str, Any]]]:
    """Call it to get every item of the table now."""
    return lambda: dynamodb.items(db, table)


@pytest.fixture
def keys(db: DynamoDBClient, table: str) -> Callable[[], set[tuple[str, str]]]:
    """Call it to get the (PK, SK) of every item now."""
    return lambda: dynamodb.keys(db, table)


@pytest.fixture
def stack(table: str) -> Stack:
    return Stack()


@pytest.fixture
def faults(aws: None, monkeypatch: pytest.MonkeyPatch) -> ManagementFaults:
    """Make chosen connections answer 410/429/403/500 instead of moto's 200.

    The broadcaster keeps the records of a gone recipient whose `$connect` wrote them in the
    last seconds (it may still be in its handshake); here its clock runs past that grace, so
    that a connection a test has just made is pruned on 410 (test_broadcast checks the grace).
    """
    later = broadcast.CONNECTING_GRACE_MS + 1
    monkeypatch.setattr(broadcast, "now_ms", lambda: protocol.now_ms() + later)
    faults = ManagementFaults()
    monkeypatch.setattr(
        ApiGatewayManagementApiBackend, "post_to_connection", faults.post_to_connection()
    )
    return faults


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Call it to get the JSON lines the `switchboard` logger wrote during the test."""
    handlers: list[logging.StreamHandler[Any]] = []
    for handler in get_logger("switchboard").handlers:
        if isinstance(handler, logging.StreamHandler) and isinstance(
            handler.formatter, JsonFormatter
        ):
            handlers.append(handler)
    assert len(handlers) == 1, "the switchboard logger should have exactly one JSON handler"
    buffer = io.StringIO()
    previous = handlers[0].setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        if previous is not None:
            handlers[0].setStream(previous)
