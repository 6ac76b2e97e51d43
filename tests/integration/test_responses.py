"""What the caller receives: route responses where configured, error frames when a handler fails."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.async_test import async_test
from tests.integration.event_log import EventLog, new_tag
from tests.integration.local_gateway import FIXTURE_TEMPLATE, LocalGateway, running_gateway
from tests.integration.ws_clients import (
    client,
    connection_id,
    receive_json,
    request,
    send_json,
    url,
)

AWS_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")


def check_error_frame(frame: dict[str, str], message: str, connection: str) -> None:
    assert set(frame) == {"message", "connectionId", "requestId"}, frame
    assert frame["message"] == message
    assert frame["connectionId"] == connection
    assert AWS_ID.match(frame["requestId"]), frame["requestId"]


@async_test()
async def test_route_with_a_default_route_response_replies(fixture_gateway: LocalGateway) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        reply = await request(ws, {"action": "echo", "n": 1})
    assert reply["echo"]["body"] == '{"action": "echo", "n": 1}'


@async_test()
async def test_route_without_a_route_response_sends_nothing_back(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        me = await connection_id(ws)
        await send_json(ws, {"action": "noreply", "n": 1})
        # Messages of a connection are handled in order, so the next frame is the echo's
        # reply: the noreply route's answer was never sent.
        reply = await request(ws, {"action": "echo", "n": 2})
        assert reply["echo"]["body"] == '{"action": "echo", "n": 2}'
    # The noreply function did run and answer; API Gateway just does not forward it.
    bodies = [record.event["body"] for record in event_log.of_connection("message", me)]
    assert '{"action": "noreply", "n": 1}' in bodies


@async_test()
async def test_handler_exception_gives_internal_server_error_and_the_connection_stays_open(
    fixture_gateway: LocalGateway,
) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        me = await connection_id(ws)
        frame = await request(ws, {"action": "crash"})
        check_error_frame(frame, "Internal server error", me)
        again = await request(ws, {"action": "crash"})
        check_error_frame(again, "Internal server error", me)
        assert again["requestId"] != frame["requestId"]
        reply = await request(ws, {"action": "echo"})
        assert reply["echo"]["requestContext"]["connectionId"] == me


@async_test()
async def test_a_function_past_its_own_timeout_gives_internal_server_error(
    fixture_gateway: LocalGateway,
) -> None:
    # ShortFunction's Timeout is 1 s, below the integration timeout: Lambda stops it, and
    # API Gateway reports a failed integration, not a timed-out one.
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        me = await connection_id(ws)
        started = time.monotonic()
        frame = await request(ws, {"action": "short", "seconds": 4})
        elapsed = time.monotonic() - started
        check_error_frame(frame, "Internal server error", me)
        assert 0.9 <= elapsed < 3
        # The next invocation runs, with the function's own Timeout as its deadline.
        reply = await request(ws, {"action": "short", "seconds": 0, "remaining": True})
        assert 500 < reply["remaining"] <= 1000


@pytest.mark.parametrize(
    ("shape", "text"),
    [
        ("object-body", '{"a": 1, "ok": true, "none": null}'),
        ("list", '["a", 1, null]'),
        ("text", "plain text"),
        ("decimal-body", '{"n": 1.5}'),  # a Decimal is a JSON number, as Lambda writes it
    ],
)
@async_test()
async def test_route_responses_are_the_json_the_function_returned(
    fixture_gateway: LocalGateway, shape: str, text: str
) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        await send_json(ws, {"action": "shape", "as": shape})
        assert await asyncio.wait_for(ws.recv(), 10) == text


@async_test()
async def test_a_result_lambda_cannot_marshal_is_an_internal_server_error(
    fixture_gateway: LocalGateway,
) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        me = await connection_id(ws)
        frame = await request(ws, {"action": "shape", "as": "datetime"})
        check_error_frame(frame, "Internal server error", me)


TIMEOUT = 2.0


@pytest.fixture(scope="module")
def timeout_gateway(event_dir: Path, logs_dir: Path) -> Iterator[LocalGateway]:
    """A gateway of its own: a timed-out function must not disturb the shared one's pools."""
    with running_gateway(
        FIXTURE_TEMPLATE,
        logs_dir / "timeout.stderr",
        "--integration-timeout",
        str(TIMEOUT),
        "--parameter-overrides",
        f"EventLogDir={event_dir}",
    ) as gateway:
        yield gateway


@async_test()
async def test_handler_past_the_integration_timeout_gives_the_timeout_frame(
    timeout_gateway: LocalGateway,
) -> None:
    async with client(url(timeout_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        me = await connection_id(ws)
        started = time.monotonic()
        await send_json(ws, {"action": "slow", "seconds": TIMEOUT + 5})
        frame = await receive_json(ws, timeout=TIMEOUT + 4)
        elapsed = time.monotonic() - started
        check_error_frame(frame, "Endpoint request timed out", me)
        assert TIMEOUT - 0.1 <= elapsed < TIMEOUT + 3
        # The connection stays open.
        reply = await request(ws, {"action": "echo"})
        assert reply["echo"]["requestContext"]["connectionId"] == me


@async_test()
async def test_function_answers_the_next_message_after_a_timeout(
    timeout_gateway: LocalGateway,
) -> None:
    # A timed-out process is killed; the next invocation gets a fresh one.
    async with client(url(timeout_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        await send_json(ws, {"action": "slow", "seconds": TIMEOUT + 5})
        frame = await receive_json(ws, timeout=TIMEOUT + 4)
        assert frame["message"] == "Endpoint request timed out"
        assert await request(ws, {"action": "slow", "seconds": 0}) == {"slept": 0}
