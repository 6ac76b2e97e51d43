"""The `@connections` API through boto3's `apigatewaymanagementapi` client, unchanged.

Against the real app: a connection's id is read from the record its `$connect` wrote to the
embedded DynamoDB (each test connects under a unique name), through the banner's endpoint.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from websockets.asyncio.client import ClientConnection

from tests.integration.async_test import async_test
from tests.integration.aws_clients import dynamodb_client, error_code, management_client
from tests.integration.chat_app import (
    PRESENCE,
    connection_record,
    guest_records,
    records_of,
    unique_name,
    wait_until_gone,
    wait_until_quiet,
)
from tests.integration.event_log import EventLog, new_tag
from tests.integration.local_gateway import LocalGateway
from tests.integration.raw_http import request, tcp_answer
from tests.integration.ws_clients import (
    USER_AGENT,
    client,
    closed_with,
    connection_id,
    send_json,
    url,
)

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient
    from mypy_boto3_dynamodb.client import DynamoDBClient

KB = 1024
UNKNOWN_ID = "AAAAAAAAAAAAAAA="


@pytest.fixture(scope="module")
def dynamodb(chat_gateway: LocalGateway) -> DynamoDBClient:
    return dynamodb_client(chat_gateway.dynamodb_endpoint)


@pytest.fixture(autouse=True)
def quiet(chat_gateway: LocalGateway) -> None:
    wait_until_quiet(chat_gateway)


@pytest.fixture(params=["without-stage", "with-stage"])
def management(
    request: pytest.FixtureRequest, chat_gateway: LocalGateway
) -> Iterator[ApiGatewayManagementApiClient]:
    """boto3 with `endpoint_url` `http://127.0.0.1:PORT` or `http://127.0.0.1:PORT/{stage}`."""
    endpoint = (
        chat_gateway.management_endpoint if request.param == "with-stage" else chat_gateway.http_url
    )
    api = management_client(endpoint)
    yield api
    api.close()


def status(response: Any) -> int:
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


async def delivered(ws: ClientConnection) -> str | bytes:
    """The next message that is not the chat's presence news of other tests' clients."""
    while True:
        message = await asyncio.wait_for(ws.recv(), 10)
        if not (isinstance(message, str) and PRESENCE.match(message)):
            return message


async def in_thread(call: Any, *args: Any, **kwargs: Any) -> Any:
    """boto3 is blocking: call it off the event loop so the clients keep reading."""
    return await asyncio.to_thread(call, *args, **kwargs)


async def gone(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        await in_thread(call, **kwargs)
    return error_code(raised.value)


@pytest.mark.parametrize(
    "payload",
    ['{"type": "note", "text": "h\u00e9llo"}', "plain text, not JSON", "x" * (128 * KB)],
    ids=["json", "text", "128KB"],
)
@async_test()
async def test_post_delivers_the_body_as_one_message(
    chat_gateway: LocalGateway,
    dynamodb: DynamoDBClient,
    management: ApiGatewayManagementApiClient,
    payload: str,
) -> None:
    name = unique_name()
    async with client(url(chat_gateway.stage_url, name=name)) as ws:
        connection_id = connection_record(dynamodb, name)["connectionId"]["S"]
        response = await in_thread(
            management.post_to_connection, ConnectionId=connection_id, Data=payload.encode()
        )
        assert status(response) == 200
        assert await delivered(ws) == payload


@async_test()
async def test_get_returns_connected_at_last_active_at_and_identity(
    chat_gateway: LocalGateway, dynamodb: DynamoDBClient, management: ApiGatewayManagementApiClient
) -> None:
    name = unique_name()
    async with client(url(chat_gateway.stage_url, name=name)) as ws:
        record = connection_record(dynamodb, name)
        connection_id = record["connectionId"]["S"]
        first = await in_thread(management.get_connection, ConnectionId=connection_id)
        assert status(first) == 200
        assert first["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": USER_AGENT}
        connected_at = datetime.fromtimestamp(int(record["connectedAt"]["N"]) / 1000, UTC)
        assert abs((first["ConnectedAt"] - connected_at).total_seconds()) < 0.002
        assert first["LastActiveAt"] >= first["ConnectedAt"]
        await asyncio.sleep(0.05)
        await send_json(ws, {"action": "no-such-action"})
        assert json.loads(await delivered(ws))["error"] == "unknown_action"
        second = await in_thread(management.get_connection, ConnectionId=connection_id)
        assert second["ConnectedAt"] == first["ConnectedAt"]
        assert second["LastActiveAt"] > first["LastActiveAt"]


@async_test()
async def test_delete_closes_the_client_and_runs_disconnect(
    chat_gateway: LocalGateway, dynamodb: DynamoDBClient, management: ApiGatewayManagementApiClient
) -> None:
    name = unique_name()
    async with client(url(chat_gateway.stage_url, name=name)) as ws:
        connection_id = connection_record(dynamodb, name)["connectionId"]["S"]
        assert records_of(dynamodb, connection_id) == guest_records(connection_id)
        response = await in_thread(management.delete_connection, ConnectionId=connection_id)
        assert status(response) == 204
        code, _ = await closed_with(ws)
        assert code is not None, "the client got no close frame"
    await wait_until_gone(dynamodb, connection_id)
    assert await gone(management.post_to_connection, ConnectionId=connection_id, Data=b"x") == (
        "GoneException",
        410,
    )


@pytest.mark.parametrize("method", ["post_to_connection", "get_connection", "delete_connection"])
def test_unknown_connection_is_gone(management: ApiGatewayManagementApiClient, method: str) -> None:
    call = getattr(management, method)
    kwargs: dict[str, Any] = {"ConnectionId": UNKNOWN_ID}
    if method == "post_to_connection":
        kwargs["Data"] = b"hello"
    with pytest.raises(management.exceptions.GoneException) as raised:
        call(**kwargs)
    assert error_code(raised.value) == ("GoneException", 410)


@async_test()
async def test_closed_connection_is_gone(
    chat_gateway: LocalGateway, dynamodb: DynamoDBClient, management: ApiGatewayManagementApiClient
) -> None:
    name = unique_name()
    async with client(url(chat_gateway.stage_url, name=name)):
        connection_id = connection_record(dynamodb, name)["connectionId"]["S"]
    for method in ("post_to_connection", "get_connection", "delete_connection"):
        kwargs: dict[str, Any] = {"ConnectionId": connection_id}
        if method == "post_to_connection":
            kwargs["Data"] = b"hello"
        assert await gone(getattr(management, method), **kwargs) == ("GoneException", 410)


@async_test()
async def test_post_over_128_kb_is_payload_too_large(
    chat_gateway: LocalGateway, dynamodb: DynamoDBClient, management: ApiGatewayManagementApiClient
) -> None:
    name = unique_name()
    async with client(url(chat_gateway.stage_url, name=name)) as ws:
        connection_id = connection_record(dynamodb, name)["connectionId"]["S"]
        with pytest.raises(management.exceptions.PayloadTooLargeException) as raised:
            await in_thread(
                management.post_to_connection,
                ConnectionId=connection_id,
                Data=b"x" * (128 * KB + 1),
            )
        assert error_code(raised.value) == ("PayloadTooLargeException", 413)
        # Nothing was delivered, and the connection is still there.
        response = await in_thread(
            management.post_to_connection, ConnectionId=connection_id, Data=b"ok"
        )
        assert status(response) == 200
        assert await delivered(ws) == "ok"


@async_test()
async def test_a_body_over_the_http_limit_is_payload_too_large_too(
    chat_gateway: LocalGateway,
) -> None:
    # Over 10 MB the gateway stops reading: still the service's 413, which boto3 names.
    target = f"/{chat_gateway.stage}/@connections/x"
    wire = request("POST", target, b"", "Content-Length: 20000000")
    answer = await tcp_answer(chat_gateway.port, wire)
    assert answer.status == 413, answer
    assert answer.headers["x-amzn-errortype"] == "PayloadTooLargeException"
    assert answer.headers["connection"] == "close"


@async_test()
async def test_a_content_length_int_would_take_is_refused(chat_gateway: LocalGateway) -> None:
    wire = request("GET", f"/{chat_gateway.stage}/@connections/x", b"", "Content-Length: 1_0")
    answer = await tcp_answer(chat_gateway.port, wire)
    assert answer.status == 400, answer


def test_another_stage_is_forbidden(chat_gateway: LocalGateway) -> None:
    other = management_client(f"{chat_gateway.http_url}/not-{chat_gateway.stage}")
    with closing(other), pytest.raises(ClientError) as raised:
        other.get_connection(ConnectionId=UNKNOWN_ID)
    assert error_code(raised.value) == ("ForbiddenException", 403)


@async_test()
async def test_post_before_connect_has_finished_is_gone(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    """The fixture's `$connect` sleeps for `?slow=`; it records its event before sleeping."""
    tag = new_tag()
    management = management_client(fixture_gateway.management_endpoint)

    async def open_slowly() -> Any:
        return await client(url(fixture_gateway.stage_url, token="allow", tag=tag, slow="2"))

    opening = asyncio.create_task(open_slowly())
    connection_id = (await event_log.connect_of(tag)).connection_id
    assert await gone(management.post_to_connection, ConnectionId=connection_id, Data=b"early") == (
        "GoneException",
        410,
    )
    assert await gone(management.get_connection, ConnectionId=connection_id) == (
        "GoneException",
        410,
    )
    assert not opening.done(), "the handshake finished before the POST: the test proved nothing"
    ws = await opening
    try:
        response = await in_thread(
            management.post_to_connection, ConnectionId=connection_id, Data=b"now"
        )
        assert status(response) == 200
        assert await delivered(ws) == "now"
    finally:
        await ws.close()
        management.close()


@async_test(timeout=60)
async def test_post_racing_a_delete_gets_an_answer(fixture_gateway: LocalGateway) -> None:
    """DELETE and POST for one connection, arriving together: each gets an HTTP answer.

    Between DELETE's close frame and the connection being forgotten, a POST used to find it
    half-closed and get no answer at all, about one try in four: 40 tries catch that.
    """

    async def first_line(reader: asyncio.StreamReader) -> bytes:
        return (await asyncio.wait_for(reader.read(200), 10)).split(b"\r\n", 1)[0]

    gateway = fixture_gateway
    for _ in range(40):
        async with client(url(gateway.stage_url, token="allow", tag=new_tag())) as ws:
            path = f"/{gateway.stage}/@connections/{(await connection_id(ws)).replace('=', '%3D')}"
            deleter = await asyncio.open_connection("127.0.0.1", gateway.port)
            poster = await asyncio.open_connection("127.0.0.1", gateway.port)
            deleter[1].write(
                f"DELETE {path} HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n".encode()
            )
            poster[1].write(
                f"POST {path} HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi".encode()
            )
            answers = (await first_line(deleter[0]), await first_line(poster[0]))
            deleter[1].close()
            poster[1].close()
        assert answers[0] == b"HTTP/1.1 204 No Content"
        assert answers[1] in (b"HTTP/1.1 200 OK", b"HTTP/1.1 410 Gone"), answers
