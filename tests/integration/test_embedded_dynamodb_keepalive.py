"""The embedded DynamoDB keeps HTTP/1.1 connections open, as DynamoDB's endpoint does.

The server runs as the gateway runs it (`python -m switchboard.local.dynamodb_server`, a
READY line, gone when its stdin closes); requests are made with http.client, whose socket
survives a response only if the server framed it and did not ask to close, and with boto3,
whose new connections are counted where urllib3 opens them.
"""

from __future__ import annotations

import http.client
import json
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import urllib3.util.connection

from tests.support.template import create_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

START_SECONDS = 60.0
TABLE = "keepalive"
TARGET = "DynamoDB_20120810."
#: The server reads the region from the credential scope, as SigV4 carries it.
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=local/20261128/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-target, Signature=0"
)
KEY = {"PK": {"S": "CONN#1"}, "SK": {"S": "META"}}
ITEM = {**KEY, "name": {"S": "Ada"}}


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A running embedded DynamoDB's port; stopped by closing its stdin."""
    process = subprocess.Popen(
        [sys.executable, "-m", "switchboard.local.dynamodb_server", "--port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: lines.put(process.stdout.readline() if process.stdout else ""),
        daemon=True,
    ).start()
    try:
        ready = lines.get(timeout=START_SECONDS)
        assert ready.startswith("READY "), f"the server said {ready!r}"
        yield int(ready.split()[1])
    finally:
        process.stdin.close()
        try:
            assert process.wait(timeout=10) == 0, "exits cleanly when its stdin closes"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def dynamodb(port: int) -> DynamoDBClient:
    client: DynamoDBClient = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    return client


@pytest.fixture(scope="module")
def table(port: int) -> str:
    client = dynamodb(port)
    create_table(client, TABLE)  # as template.yaml defines the table
    client.put_item(TableName=TABLE, Item=ITEM)
    client.close()
    return TABLE


def call(
    connection: http.client.HTTPConnection, operation: str, body: dict[str, Any]
) -> http.client.HTTPResponse:
    connection.request(
        "POST",
        "/",
        body=json.dumps(body),
        headers={
            "X-Amz-Target": TARGET + operation,
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": AUTHORIZATION,
        },
    )
    return connection.getresponse()


def test_two_requests_share_one_connection(port: int, table: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        first = call(connection, "ListTables", {})
        first_body = first.read()
        socket_after_first = connection.sock
        second = call(connection, "GetItem", {"TableName": table, "Key": KEY})
        second_body = second.read()
        for response, body in ((first, first_body), (second, second_body)):
            assert response.status == 200
            assert response.version == 11
            assert response.headers.get_all("Content-Length") == [str(len(body))]
            assert (response.getheader("Connection") or "").lower() != "close"
            assert not response.will_close
        listed, got = json.loads(first_body), json.loads(second_body)
        assert table in listed["TableNames"]
        assert got == {"Item": ITEM}
        assert socket_after_first is not None
        assert connection.sock is socket_after_first, "the second request reused the socket"
    finally:
        connection.close()


def test_a_body_is_read_whole_before_the_next_request(port: int, table: str) -> None:
    """A request's body, sent in pieces, is not taken for the start of the next request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps({"TableName": table, "Key": KEY})
        connection.putrequest("POST", "/")
        for name, value in (
            ("X-Amz-Target", TARGET + "GetItem"),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Authorization", AUTHORIZATION),
            ("Content-Length", str(len(body))),
        ):
            connection.putheader(name, value)
        connection.endheaders()
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start in range(0, len(body), 16):
            time.sleep(0.01)  # each piece its own segment, the server waiting on the next
            connection.send(body[start : start + 16].encode())
        response = connection.getresponse()
        assert json.loads(response.read()) == {"Item": ITEM}
        again = call(connection, "DescribeTable", {"TableName": table})
        assert again.status == 200
        assert json.loads(again.read())["Table"]["TableName"] == table
    finally:
        connection.close()


def test_boto3_makes_twenty_calls_on_one_connection(
    port: int, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[tuple[str, int]] = []
    create_connection = urllib3.util.connection.create_connection

    def counted(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        opened.append(address)
        return create_connection(address, *args, **kwargs)

    # urllib3 (under botocore) opens every connection through this function.
    monkeypatch.setattr(urllib3.util.connection, "create_connection", counted)
    client = dynamodb(port)
    try:
        for _ in range(20):
            got = client.get_item(TableName=table, Key=KEY)
            assert got["Item"] == ITEM
    finally:
        client.close()
    assert opened == [("127.0.0.1", port)], f"{len(opened)} connections for 20 calls"


@pytest.mark.parametrize("declared", ["-1", "abc", "1e3"])
def test_an_unreadable_content_length_is_refused_and_closes(port: int, declared: str) -> None:
    """Not a traceback, nor `-1` reading until the client gives up: 400, then closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
            b"Content-Length: " + declared.encode() + b"\r\n\r\n{}"
        )
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]
