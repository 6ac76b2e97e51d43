"""Route selection as API Gateway evaluates it: the expression, string conversion, `$default`.

The fixture app selects on `$request.body.action` and has a `$default` route; the composed
app selects on `${request.body.service}/${request.body.action}` and has none, so a message
that matches no route gets the Forbidden frame.
"""

from __future__ import annotations

import re

import pytest

from tests.integration.async_test import async_test
from tests.integration.event_log import EventLog, new_tag
from tests.integration.local_gateway import LocalGateway
from tests.integration.ws_clients import client, receive_json, request, url

AWS_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")


@pytest.mark.parametrize(
    ("body", "route_key"),
    [
        ('{"action": "echo"}', "echo"),
        ('{"action": "5"}', "5"),
        ('{"action": 5}', "5"),  # a number is turned into a string, then matched
        ('{"action": "Echo"}', "$default"),  # matching is exact, case included
        ('{"action": "nope"}', "$default"),
        ('{"data": "no action"}', "$default"),
        ('{"action": null}', "$default"),
        ('{"action": {"nested": 1}}', "$default"),
        ('{"action": "$connect"}', "$default"),  # messages never select a special route
        ('{"action": "$disconnect"}', "$default"),
        ("not JSON at all", "$default"),
        ('["echo"]', "$default"),
        ('"echo"', "$default"),
        ("", "$default"),
    ],
)
@async_test()
async def test_route_selection(fixture_gateway: LocalGateway, body: str, route_key: str) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        await ws.send(body)
        event = (await receive_json(ws))["echo"]
    assert event["requestContext"]["routeKey"] == route_key
    assert event["body"] == body


@pytest.mark.parametrize(
    ("message", "route_key"),
    [
        ({"service": "chat", "action": "send"}, "chat/send"),
        ({"action": "send", "service": "chat", "extra": [1]}, "chat/send"),
        ({"service": "chat", "action": 5}, "chat/5"),
    ],
)
@async_test()
async def test_composed_expression_selects_the_route(
    composed_gateway: LocalGateway, message: dict[str, object], route_key: str
) -> None:
    async with client(composed_gateway.stage_url) as ws:
        event = (await request(ws, message))["echo"]
    assert event["requestContext"]["routeKey"] == route_key


@pytest.mark.parametrize(
    "body",
    [
        '{"service": "chat", "action": "nope"}',
        '{"service": "chat"}',  # a missing key
        '{"service": "mail", "action": "send"}',
        "not JSON",
    ],
)
@async_test()
async def test_no_match_and_no_default_route_gives_the_forbidden_frame(
    composed_gateway: LocalGateway, event_log: EventLog, body: str
) -> None:
    tag = new_tag()
    async with client(composed_gateway.stage_url, additional_headers=[("X-Test-Tag", tag)]) as ws:
        connect = await event_log.wait_for(
            "connect", lambda record: record.event["headers"].get("X-Test-Tag") == tag
        )
        await ws.send(body)
        frame = await receive_json(ws)
        assert set(frame) == {"message", "connectionId", "requestId"}
        assert frame["message"] == "Forbidden"
        assert frame["connectionId"] == connect.connection_id
        assert AWS_ID.match(frame["requestId"])
        # The connection stays open: the next message is routed.
        event = (await request(ws, {"service": "chat", "action": "send"}))["echo"]
        assert event["requestContext"]["routeKey"] == "chat/send"
    # No function ran for the unmatched message.
    bodies = [
        record.event["body"] for record in event_log.of_connection("message", connect.connection_id)
    ]
    assert bodies == ['{"service": "chat", "action": "send"}']
