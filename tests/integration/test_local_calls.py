"""The gateway's Unix socket for the local functions' `@connections` calls, on the wire.

The socket is the one a running `switchboard local` listens on (`gateway.sock` in the
spawner's directory): found from the gateway process's open sockets, so these tests talk
to exactly what the functions talk to. Requests are written by hand, then through boto3
with the lean transport mapped to the socket, as the function processes do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import boto3
import botocore
import pytest
from botocore.config import Config
from websockets.asyncio.client import ClientConnection

from switchboard.local.lean_transport import LeanTransport
from tests.integration.async_test import async_test
from tests.integration.event_log import new_tag
from tests.integration.local_gateway import LocalGateway
from tests.integration.raw_http import Response, read_response, request
from tests.integration.ws_clients import client, connection_id, url

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient

SOCKET_NAME = "gateway.sock"
UNKNOWN_ID = "AAAAAAAAAAAAAAA="
RECEIVE_SECONDS = 10.0
ISO8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def unix_socket_of(pid: int, name: str = SOCKET_NAME) -> str:
    """The path of the listening Unix socket called `name` that process `pid` holds open.

    /proc/PID/fd names each socket by inode; /proc/net/unix maps inodes to paths.
    """
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    with open("/proc/net/unix", encoding="utf-8") as table:
        next(table)  # the header
        paths = [
            fields[7]
            for fields in (line.split() for line in table)
            if len(fields) >= 8 and fields[6] in inodes and fields[7].endswith(f"/{name}")
        ]
    assert len(set(paths)) == 1, f"process {pid} listens on {paths} named {name}"
    return paths[0]


@pytest.fixture(scope="module")
def calls_socket(fixture_gateway: LocalGateway) -> str:
    return unix_socket_of(fixture_gateway.process.pid)


async def exchange(path: str, wire: bytes, answers: int) -> tuple[list[Response], bytes]:
    """Write `wire` in one send, read `answers` responses, then whatever else arrives
    before the socket closes or goes quiet for a moment (b"" when it closed at once)."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        writer.write(wire)
        await writer.drain()
        responses = [await read_response(reader) for _ in range(answers)]
        try:
            rest = await asyncio.wait_for(reader.read(), 0.5)
        except TimeoutError:
            rest = b"<still open>"
        return responses, rest
    finally:
        writer.close()


async def received(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), RECEIVE_SECONDS)


async def nothing_more(ws: ClientConnection) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.3)


def connections_path(gateway: LocalGateway, cid: str) -> str:
    return f"/{gateway.stage}/@connections/{cid}"


@contextlib.asynccontextmanager
async def connected(gateway: LocalGateway) -> AsyncIterator[tuple[ClientConnection, str]]:
    """A WebSocket client of the gateway, and its `@connections` path."""
    async with client(url(gateway.stage_url, token="allow", tag=new_tag())) as ws:
        yield ws, connections_path(gateway, await connection_id(ws))


@async_test()
async def test_post_is_answered_200_and_delivered(
    fixture_gateway: LocalGateway, calls_socket: str
) -> None:
    async with connected(fixture_gateway) as (ws, path):
        (answer,), rest = await exchange(calls_socket, request("POST", path, b"hello"), 1)
        assert (answer.status, answer.body) == (200, b"")
        assert answer.headers["connection"] == "keep-alive"
        assert rest == b"<still open>", "keep-alive: the socket stays open"
        assert await received(ws) == "hello"
        await nothing_more(ws)


@async_test()
async def test_pipelined_posts_are_answered_and_delivered_in_order(
    fixture_gateway: LocalGateway, calls_socket: str
) -> None:
    async with connected(fixture_gateway) as (ws, path):
        wire = request("POST", path, b"first") + request("POST", path, b"second")
        answers, rest = await exchange(calls_socket, wire, 2)
        assert [a.status for a in answers] == [200, 200]
        assert rest == b"<still open>"
        assert [await received(ws), await received(ws)] == ["first", "second"]
        await nothing_more(ws)


@async_test()
async def test_pipelined_requests_of_every_kind_are_answered_in_order(
    fixture_gateway: LocalGateway, calls_socket: str
) -> None:
    async with connected(fixture_gateway) as (ws, path):
        wire = (
            request("POST", path, b"one")
            + request("POST", connections_path(fixture_gateway, UNKNOWN_ID), b"lost")
            + request("GET", path)
            + request("GET", f"/{fixture_gateway.stage}/elsewhere")
            + request("POST", path, b"two")
        )
        answers, _ = await exchange(calls_socket, wire, 5)
        assert [a.status for a in answers] == [200, 410, 200, 404, 200]
        assert "connectedAt" in json.loads(answers[2].body)
        assert [await received(ws), await received(ws)] == ["one", "two"]


@async_test()
async def test_an_unknown_id_is_gone(fixture_gateway: LocalGateway, calls_socket: str) -> None:
    path = connections_path(fixture_gateway, UNKNOWN_ID)
    (answer,), rest = await exchange(calls_socket, request("POST", path, b"x"), 1)
    assert answer.status == 410
    assert answer.headers["x-amzn-errortype"] == "GoneException"
    assert json.loads(answer.body) == {"message": f"Connection {UNKNOWN_ID} is gone"}
    assert rest == b"<still open>"


@async_test()
async def test_get_describes_the_connection(
    fixture_gateway: LocalGateway, calls_socket: str
) -> None:
    async with connected(fixture_gateway) as (_, path):
        (answer,), _ = await exchange(calls_socket, request("GET", path), 1)
        assert answer.status == 200
        assert answer.headers["content-type"] == "application/json"
        described = json.loads(answer.body)
        assert ISO8601.match(described["connectedAt"]), described
        assert ISO8601.match(described["lastActiveAt"]), described
        assert described["identity"]["sourceIp"] == "127.0.0.1"


@pytest.mark.parametrize("target", ["/prod/hello", "/", "/@connection/x"])
@async_test()
async def test_other_paths_are_not_found(calls_socket: str, target: str) -> None:
    (answer,), rest = await exchange(calls_socket, request("GET", target), 1)
    assert answer.status == 404
    assert json.loads(answer.body) == {"message": "Not Found"}
    assert rest == b"<still open>"


@async_test()
async def test_a_malformed_request_line_is_400_and_closes(calls_socket: str) -> None:
    (answer,), rest = await exchange(calls_socket, b"NONSENSE\r\n\r\n", 1)
    assert answer.status == 400
    assert json.loads(answer.body) == {"message": "malformed request line"}
    assert answer.headers["connection"] == "close"
    assert rest == b"", "the socket is closed after the answer"


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        # A head over 64 KB that arrives whole, in one write.
        (request("GET", "/prod/@connections/x", b"", "X-Big: " + "a" * 70_000), "too large"),
        (request("GET", "/prod/@connections/x", b"", "Content-Length: -5"), "Content-Length"),
        (request("GET", "/prod/@connections/x", b"", "Content-Length: "), "Content-Length"),
        # int() would read these as 10 and 5.
        (request("GET", "/prod/@connections/x", b"", "Content-Length: 1_0"), "Content-Length"),
        (request("GET", "/prod/@connections/x", b"", "Content-Length: +5"), "Content-Length"),
        # More digits than int() reads: a ValueError that must still be a 400.
        (
            request("GET", "/prod/@connections/x", b"", "Content-Length: " + "0" * 5000 + "5"),
            "Content-Length",
        ),
    ],
    ids=[
        "head-over-64kb",
        "negative-length",
        "empty-length",
        "underscore-length",
        "plus-length",
        "5001-digit-length",
    ],
)
@async_test()
async def test_oversized_or_negative_requests_are_400_and_close(
    calls_socket: str, wire: bytes, message: str
) -> None:
    (answer,), rest = await exchange(calls_socket, wire, 1)
    assert answer.status == 400
    assert message in json.loads(answer.body)["message"]
    assert rest == b""


@async_test()
async def test_a_body_over_the_http_limit_is_payload_too_large_and_closes(
    calls_socket: str,
) -> None:
    wire = b"POST /prod/@connections/x HTTP/1.1\r\nContent-Length: 20000000\r\n\r\n"
    (answer,), rest = await exchange(calls_socket, wire, 1)
    assert answer.status == 413
    assert answer.headers["x-amzn-errortype"] == "PayloadTooLargeException"
    assert rest == b""


@async_test()
async def test_a_chunked_body_is_400_and_closes(
    fixture_gateway: LocalGateway, calls_socket: str
) -> None:
    async with connected(fixture_gateway) as (ws, path):
        wire = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n0\r\n\r\n"
        ).encode()
        (answer,), rest = await exchange(calls_socket, wire, 1)
        assert answer.status == 400
        assert "chunked" in json.loads(answer.body)["message"]
        assert rest == b""
        await nothing_more(ws)


@pytest.fixture
def refused_origin() -> Iterator[str]:
    """An http://127.0.0.1:PORT where nothing listens: a TCP call there would fail."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
def lean_client(
    fixture_gateway: LocalGateway, calls_socket: str, refused_origin: str
) -> Iterator[ApiGatewayManagementApiClient]:
    """boto3 as a function process has it, the gateway's origin mapped to the socket."""
    session = boto3.session.Session()
    # The stubs type event handlers as returning None; a before-send handler returns the
    # response (as worker.lighten_management_calls registers it too).
    transport: Any = LeanTransport({refused_origin: calls_socket})
    session.events.register("before-send.apigatewaymanagementapi", transport)
    session.events.register("choose-signer.apigatewaymanagementapi", lambda **_: botocore.UNSIGNED)
    api = session.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{refused_origin}/{fixture_gateway.stage}",
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    yield api
    api.close()


@async_test()
async def test_boto3_over_the_lean_transport_delivers_and_raises_gone(
    fixture_gateway: LocalGateway, lean_client: ApiGatewayManagementApiClient
) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        cid = await connection_id(ws)
        for n in range(3):  # one kept-alive socket for all of them
            response = await asyncio.to_thread(
                lean_client.post_to_connection, ConnectionId=cid, Data=f"lean {n}".encode()
            )
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert [await received(ws) for _ in range(3)] == ["lean 0", "lean 1", "lean 2"]
        described = await asyncio.to_thread(lean_client.get_connection, ConnectionId=cid)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
    with pytest.raises(lean_client.exceptions.GoneException):
        await asyncio.to_thread(
            lean_client.post_to_connection, ConnectionId=UNKNOWN_ID, Data=b"lost"
        )
