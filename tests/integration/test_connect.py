"""The handshake waits for the authorizer and `$connect`, and fails with the status they give."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import InvalidStatus

from tests.integration import raw_http
from tests.integration.async_test import async_test
from tests.integration.event_log import EventLog, new_tag
from tests.integration.local_gateway import LocalGateway
from tests.integration.ws_clients import client, request, url

#: Long enough for a `$disconnect` that should not come to have come if it were coming.
QUIET_SECONDS = 0.5


async def refused_with(address: str) -> int:
    """The HTTP status that refused the handshake."""
    with pytest.raises(InvalidStatus) as refused:
        async with client(address):
            pass
    return int(refused.value.response.status_code)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"reject": "1"}, 403),
        ({"status": "401"}, 401),
        ({"status": "429"}, 429),
        ({"status": "302"}, 302),
        ({"status": "499"}, 499),  # not a registered HTTP status: passed on all the same
        ({"raise": "1"}, 500),  # an exception in $connect
        # Not a final HTTP status: a malformed integration response, so 500.
        ({"status": "0"}, 500),
        ({"status": "101"}, 500),
        ({"status": "600"}, 500),
        ({"status": "1000"}, 500),
    ],
)
@async_test()
async def test_connect_answer_decides_the_handshake(
    fixture_gateway: LocalGateway, event_log: EventLog, query: dict[str, str], status: int
) -> None:
    tag = new_tag()
    address = url(fixture_gateway.stage_url, token="allow", tag=tag, **query)
    assert await refused_with(address) == status
    connect = await event_log.connect_of(tag)
    # A connection that never opened is never disconnected.
    await asyncio.sleep(QUIET_SECONDS)
    assert event_log.of_connection("disconnect", connect.connection_id) == []


@async_test()
async def test_connect_answer_2xx_opens_the_connection(fixture_gateway: LocalGateway) -> None:
    async with client(
        url(fixture_gateway.stage_url, token="allow", tag=new_tag(), status="204")
    ) as ws:
        reply = await request(ws, {"action": "echo"})
    assert reply["echo"]["requestContext"]["routeKey"] == "echo"


@async_test()
async def test_unknown_path_is_refused_with_403(fixture_gateway: LocalGateway) -> None:
    assert await refused_with(url(f"{fixture_gateway.ws_url}/other-stage", token="allow")) == 403


UPGRADE = ("Upgrade: websocket", "Connection: Upgrade")
KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ((*UPGRADE, "Sec-WebSocket-Version: 13"), 400),  # no key
        ((*UPGRADE, KEY, "Sec-WebSocket-Version: 8"), 400),  # an old version
        (("Upgrade: websocket", KEY, "Sec-WebSocket-Version: 13"), 426),  # no Connection
    ],
    ids=["no-key", "version-8", "no-connection-header"],
)
@async_test()
async def test_a_malformed_handshake_is_refused_before_anything_runs(
    fixture_gateway: LocalGateway, event_log: EventLog, headers: tuple[str, ...], status: int
) -> None:
    tag = new_tag()
    target = f"/{fixture_gateway.stage}?token=allow&tag={tag}"
    disconnects = len(event_log.records("disconnect"))

    answer = await raw_http.tcp_answer(
        fixture_gateway.port, raw_http.request("GET", target, b"", *headers)
    )

    assert answer.status == status, answer
    # Not a connection: no authorizer, no $connect, and no $disconnect telling the app
    # that someone it never saw has left.
    await asyncio.sleep(QUIET_SECONDS)
    assert event_log.tagged("authorizer", tag) == []
    assert event_log.tagged("connect", tag) == []
    assert len(event_log.records("disconnect")) == disconnects


@async_test()
async def test_a_path_of_two_slashes_is_a_path_not_a_host(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    target = f"//{fixture_gateway.stage}?token=allow&tag={tag}"
    wire = raw_http.request("GET", target, b"", *UPGRADE, KEY, "Sec-WebSocket-Version: 13")

    answer = await raw_http.tcp_answer(fixture_gateway.port, wire)

    assert answer.status == 403, answer
    await asyncio.sleep(QUIET_SECONDS)
    assert event_log.tagged("connect", tag) == []


@async_test()
async def test_missing_identity_source_gives_401_without_invoking_the_authorizer(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    assert await refused_with(url(fixture_gateway.stage_url, tag=tag)) == 401
    await asyncio.sleep(QUIET_SECONDS)
    assert event_log.tagged("authorizer", tag) == []
    assert event_log.tagged("connect", tag) == []


@pytest.mark.parametrize(
    ("token", "status"),
    [
        ("deny", 403),  # a Deny policy
        ("boom", 500),  # the authorizer raised
        ("unauth", 401),  # the authorizer raised Exception("Unauthorized")
    ],
)
@async_test()
async def test_authorizer_verdict_refuses_the_handshake(
    fixture_gateway: LocalGateway, event_log: EventLog, token: str, status: int
) -> None:
    tag = new_tag()
    assert await refused_with(url(fixture_gateway.stage_url, token=token, tag=tag)) == status
    assert len(event_log.tagged("authorizer", tag)) == 1
    # $connect runs only after an Allow.
    await asyncio.sleep(QUIET_SECONDS)
    assert event_log.tagged("connect", tag) == []


@async_test()
async def test_authorizer_allow_puts_its_context_on_every_later_event(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    async with client(url(fixture_gateway.stage_url, token="allow", tag=tag)) as ws:
        message = (await request(ws, {"action": "echo"}))["echo"]
    connect = await event_log.connect_of(tag)
    disconnect = await event_log.disconnect_of(connect.connection_id)
    expected = {"user": "u1", "principalId": "user-u1"}
    assert connect.event["requestContext"]["authorizer"] == expected
    assert message["requestContext"]["authorizer"] == expected
    assert disconnect.event["requestContext"]["authorizer"] == expected
