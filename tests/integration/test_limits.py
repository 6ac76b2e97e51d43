"""API Gateway's limits: 128 KB messages, 32 KB frames, no binary frames, idle and maximum time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection

from tests.integration.async_test import async_test
from tests.integration.event_log import EventLog, new_tag
from tests.integration.local_gateway import FIXTURE_TEMPLATE, LocalGateway, running_gateway
from tests.integration.ws_clients import client, closed_with, connection_id, request, send_json, url

KB = 1024
IDLE_TIMEOUT = 1.5
MAX_DURATION = 4.0


def padded(action: str, size: int) -> str:
    """A JSON message of exactly `size` bytes (ASCII) for `action`."""
    head = f'{{"action": "{action}", "pad": "'
    tail = '"}'
    return head + "x" * (size - len(head) - len(tail)) + tail


def fragments(message: str, size: int) -> list[str]:
    return [message[i : i + size] for i in range(0, len(message), size)]


async def still_open(ws: ClientConnection) -> None:
    reply = await request(ws, {"action": "echo"})
    assert reply["echo"]["requestContext"]["routeKey"] == "echo"


@async_test()
async def test_message_of_128_kb_in_32_kb_frames_is_accepted(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    message = padded("noreply", 128 * KB)
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        me = await connection_id(ws)
        await ws.send(fragments(message, 32 * KB))
        await ws.send(padded("noreply", 32 * KB))  # one frame of exactly 32 KB
        await still_open(ws)
    sizes = sorted(len(record.event["body"]) for record in event_log.of_connection("message", me))
    assert sizes[-2:] == [32 * KB, 128 * KB]


@async_test()
async def test_message_over_128_kb_closes_with_1009(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        me = await connection_id(ws)
        await ws.send(fragments(padded("noreply", 128 * KB + 1), 32 * KB))
        code, _ = await closed_with(ws)
    assert code == 1009
    disconnect = await event_log.disconnect_of(me)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1009


@async_test()
async def test_single_frame_over_32_kb_closes_with_1009(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        me = await connection_id(ws)
        await ws.send(padded("noreply", 32 * KB + 1))
        code, _ = await closed_with(ws)
    assert code == 1009
    await event_log.disconnect_of(me)
    # The oversized message never reached a function.
    assert [r.event["body"] for r in event_log.of_connection("message", me)] == [
        '{"action": "echo"}'
    ]


@async_test()
async def test_binary_frame_closes_with_1003(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        me = await connection_id(ws)
        await ws.send(b'{"action": "echo"}')
        code, _ = await closed_with(ws)
    assert code == 1003
    disconnect = await event_log.disconnect_of(me)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1003


@pytest.fixture(scope="module")
def short_lived_gateway(event_dir: Path, logs_dir: Path) -> Iterator[LocalGateway]:
    with running_gateway(
        FIXTURE_TEMPLATE,
        logs_dir / "short-lived.stderr",
        "--idle-timeout",
        str(IDLE_TIMEOUT),
        "--max-duration",
        str(MAX_DURATION),
        "--parameter-overrides",
        f"EventLogDir={event_dir}",
    ) as gateway:
        yield gateway


@async_test()
async def test_idle_connection_closes_with_1001_and_runs_disconnect(
    short_lived_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    async with client(url(short_lived_gateway.stage_url, token="allow", tag=tag)) as ws:
        started = time.monotonic()
        me = (await event_log.connect_of(tag)).connection_id
        code, _ = await closed_with(ws, timeout=IDLE_TIMEOUT + 5)
        idle_for = time.monotonic() - started
    assert code == 1001
    assert IDLE_TIMEOUT - 0.2 <= idle_for < IDLE_TIMEOUT + 2
    disconnect = await event_log.disconnect_of(me)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1001


@async_test()
async def test_busy_connection_closes_with_1001_at_the_maximum_duration(
    short_lived_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()
    async with client(url(short_lived_gateway.stage_url, token="allow", tag=tag)) as ws:
        started = time.monotonic()
        me = (await event_log.connect_of(tag)).connection_id

        async def keep_busy() -> None:
            while True:
                await send_json(ws, {"action": "noreply"})
                await asyncio.sleep(IDLE_TIMEOUT / 4)

        busy = asyncio.create_task(keep_busy())
        try:
            code, _ = await closed_with(ws, timeout=MAX_DURATION + 5)
        finally:
            busy.cancel()
            await asyncio.gather(busy, return_exceptions=True)
        lived = time.monotonic() - started
    assert code == 1001
    assert MAX_DURATION - 0.2 <= lived < MAX_DURATION + 2
    disconnect = await event_log.disconnect_of(me)
    assert disconnect.event["requestContext"]["disconnectStatusCode"] == 1001
