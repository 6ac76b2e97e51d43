"""Events reach the handlers as API Gateway builds them (CONNECT, MESSAGE, DISCONNECT, REQUEST).

The fixture handlers record every event they receive; these tests read those records.
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests.integration.async_test import async_test
from tests.integration.event_log import EventLog, new_tag
from tests.integration.local_gateway import LocalGateway
from tests.integration.ws_clients import (
    USER_AGENT,
    RawWebSocket,
    client,
    receive_json,
    request,
    url,
)

AWS_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")
REQUEST_TIME = re.compile(
    r"^\d{2}/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2} \+0000$"
)
CONTEXT_FIELDS = {
    "routeKey",
    "eventType",
    "extendedRequestId",
    "requestTime",
    "messageDirection",
    "stage",
    "connectedAt",
    "requestTimeEpoch",
    "identity",
    "requestId",
    "domainName",
    "connectionId",
    "apiId",
}
AUTHORIZED = {"user": "u1", "principalId": "user-u1"}


def now_ms() -> int:
    return int(time.time() * 1000)


def check_context(
    context: dict[str, Any],
    gateway: LocalGateway,
    *,
    route_key: str,
    event_type: str,
    since_ms: int,
) -> None:
    """Every field API Gateway sends, in its format."""
    assert set(context) >= CONTEXT_FIELDS, f"missing: {CONTEXT_FIELDS - set(context)}"
    assert context["routeKey"] == route_key
    assert context["eventType"] == event_type
    assert context["messageDirection"] == "IN"
    assert context["stage"] == gateway.stage
    assert context["domainName"] == f"127.0.0.1:{gateway.port}"
    assert isinstance(context["apiId"], str) and context["apiId"]
    assert AWS_ID.match(context["connectionId"]), context["connectionId"]
    assert AWS_ID.match(context["requestId"]), context["requestId"]
    assert isinstance(context["extendedRequestId"], str) and context["extendedRequestId"]
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": USER_AGENT}
    # Epochs in milliseconds; requestTime is requestTimeEpoch in API Gateway's format.
    assert (
        since_ms - 1000 <= context["connectedAt"] <= context["requestTimeEpoch"] <= now_ms() + 1000
    )
    assert REQUEST_TIME.match(context["requestTime"]), context["requestTime"]
    expected_time = time.strftime(
        "%d/%b/%Y:%H:%M:%S +0000", time.gmtime(context["requestTimeEpoch"] // 1000)
    )
    assert context["requestTime"] == expected_time


@async_test()
async def test_connect_event_has_headers_query_strings_and_the_authorizer_context(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    since = now_ms()
    address = url(fixture_gateway.stage_url, token="allow", tag=tag) + "&a=1&a=2"
    headers = [("X-Custom", "one"), ("X-Custom", "two")]
    async with client(address, additional_headers=headers):
        record = await event_log.connect_of(tag)
    event = record.event
    assert set(event) == {
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "requestContext",
        "isBase64Encoded",
    }
    assert event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"token": "allow", "tag": tag, "a": "2"}
    assert event["multiValueQueryStringParameters"] == {
        "token": ["allow"],
        "tag": [tag],
        "a": ["1", "2"],
    }
    received = event["headers"]
    assert received["Host"] == f"127.0.0.1:{fixture_gateway.port}"
    assert received["User-Agent"] == USER_AGENT
    assert received["Sec-WebSocket-Version"] == "13"
    assert "Sec-WebSocket-Key" in received
    assert received["X-Forwarded-For"] == "127.0.0.1"
    assert received["X-Forwarded-Port"] == str(fixture_gateway.port)
    assert received["X-Custom"] == "two"
    assert event["multiValueHeaders"]["X-Custom"] == ["one", "two"]
    assert set(event["multiValueHeaders"]) == set(received)
    for name, value in received.items():
        if name != "X-Custom":
            assert event["multiValueHeaders"][name] == [value]
    context = event["requestContext"]
    check_context(
        context, fixture_gateway, route_key="$connect", event_type="CONNECT", since_ms=since
    )
    assert context["authorizer"] == AUTHORIZED
    assert "messageId" not in context
    assert "disconnectStatusCode" not in context


@async_test()
async def test_connect_event_without_a_query_string_has_no_query_fields(
    composed_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    since = now_ms()
    async with client(composed_gateway.stage_url, additional_headers=[("X-Test-Tag", tag)]):
        record = await event_log.wait_for(
            "connect", lambda record: record.event["headers"].get("X-Test-Tag") == tag
        )
    event = record.event
    assert set(event) == {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"}
    check_context(
        event["requestContext"],
        composed_gateway,
        route_key="$connect",
        event_type="CONNECT",
        since_ms=since,
    )
    # No authorizer in this template: no authorizer field.
    assert "authorizer" not in event["requestContext"]


@async_test()
async def test_message_event_has_a_message_id_and_the_body_as_sent(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    since = now_ms()
    body = '{"action": "echo",  "text": "h\u00e9llo \u2603"}'
    async with client(url(fixture_gateway.stage_url, token="allow", tag=tag)) as ws:
        await ws.send(body)
        first = (await receive_json(ws))["echo"]
        second = (await request(ws, {"action": "echo"}))["echo"]
    connect = (await event_log.connect_of(tag)).event["requestContext"]
    assert set(first) == {"requestContext", "body", "isBase64Encoded"}
    assert first["body"] == body
    assert first["isBase64Encoded"] is False
    for event in (first, second):
        context = event["requestContext"]
        check_context(
            context, fixture_gateway, route_key="echo", event_type="MESSAGE", since_ms=since
        )
        assert AWS_ID.match(context["messageId"]), context["messageId"]
        assert context["connectionId"] == connect["connectionId"]
        assert context["connectedAt"] == connect["connectedAt"]
        assert context["authorizer"] == AUTHORIZED
        assert "disconnectStatusCode" not in context
    assert first["requestContext"]["messageId"] != second["requestContext"]["messageId"]
    assert first["requestContext"]["requestId"] != second["requestContext"]["requestId"]


@async_test()
async def test_disconnect_event_after_a_normal_close(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    since = now_ms()
    async with client(url(fixture_gateway.stage_url, token="allow", tag=tag)) as ws:
        connection_id = (await event_log.connect_of(tag)).connection_id
        await ws.close(1000)
    event = (await event_log.disconnect_of(connection_id)).event
    assert set(event) == {"headers", "multiValueHeaders", "requestContext", "isBase64Encoded"}
    assert set(event["headers"]) == {"Host", "x-api-key", "X-Forwarded-For", "x-restapi"}
    assert event["headers"]["Host"] == f"127.0.0.1:{fixture_gateway.port}"
    context = event["requestContext"]
    check_context(
        context, fixture_gateway, route_key="$disconnect", event_type="DISCONNECT", since_ms=since
    )
    assert context["connectionId"] == connection_id
    assert context["authorizer"] == AUTHORIZED
    assert context["disconnectStatusCode"] == 1000
    assert context["disconnectReason"] == ""


@async_test()
async def test_disconnect_event_carries_the_clients_close_code_and_reason(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    async with client(url(fixture_gateway.stage_url, token="allow", tag=tag)) as ws:
        connection_id = (await event_log.connect_of(tag)).connection_id
        await ws.close(4001, "done for today")
    context = (await event_log.disconnect_of(connection_id)).event["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (
        4001,
        "done for today",
    )


@async_test()
async def test_close_frame_without_a_status_gives_1005(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    raw = await RawWebSocket.open(
        fixture_gateway.port, f"/{fixture_gateway.stage}?token=allow&tag={tag}"
    )
    connection_id = (await event_log.connect_of(tag)).connection_id
    await raw.send_frame(0x8, b"")  # a close frame with no status code
    await raw.read_until_eof()
    context = (await event_log.disconnect_of(connection_id)).event["requestContext"]
    assert context["disconnectStatusCode"] == 1005
    assert context["disconnectReason"] == "Client-side close frame status not set"


@async_test()
async def test_dropped_tcp_connection_still_runs_disconnect(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    raw = await RawWebSocket.open(
        fixture_gateway.port, f"/{fixture_gateway.stage}?token=allow&tag={tag}"
    )
    connection_id = (await event_log.connect_of(tag)).connection_id
    raw.drop()
    context = (await event_log.disconnect_of(connection_id)).event["requestContext"]
    assert context["disconnectStatusCode"] == 1006


@async_test()
async def test_authorizer_receives_a_request_event(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    async with client(url(fixture_gateway.stage_url, token="allow", tag=tag)):
        record = await event_log.wait_for("authorizer", lambda record: record.tag == tag)
    event = record.event
    assert record.function == "AuthorizerFunction"
    assert event["type"] == "REQUEST"
    assert re.fullmatch(
        rf"arn:aws:execute-api:us-east-1:\d{{12}}:[^/]+/{fixture_gateway.stage}/\$connect",
        event["methodArn"],
    ), event["methodArn"]
    assert event["queryStringParameters"] == {"token": "allow", "tag": tag}
    assert event["headers"]["User-Agent"] == USER_AGENT
    assert event["stageVariables"] == {}
    context = event["requestContext"]
    assert (context["routeKey"], context["eventType"]) == ("$connect", "CONNECT")
    assert AWS_ID.match(context["connectionId"])
    assert "authorizer" not in context
