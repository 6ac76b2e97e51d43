"""Handlers run off the event loop: a slow or crashing handler stalls no other connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.async_test import async_test
from tests.integration.event_log import EventLog, new_tag
from tests.integration.local_gateway import FIXTURE_TEMPLATE, LocalGateway, running_gateway
from tests.integration.ws_clients import client, receive_json, request, send_json, url


@async_test()
async def test_a_slow_handler_stalls_no_other_connection(fixture_gateway: LocalGateway) -> None:
    async with (
        client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as slow,
        client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as crashing,
        client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as quick,
    ):
        await send_json(slow, {"action": "slow", "seconds": 3})
        await asyncio.sleep(0.2)  # the slow handler is running now
        started = time.monotonic()
        for n in range(5):
            reply = await request(quick, {"action": "echo", "n": n})
            assert reply["echo"]["body"] == f'{{"action": "echo", "n": {n}}}'
            crash = await request(crashing, {"action": "crash"})
            assert crash["message"] == "Internal server error"
        answered_in = time.monotonic() - started
        assert answered_in < 2.0, f"five echoes and five crashes took {answered_in:.2f} s"
        assert await receive_json(slow) == {"slept": 3}


@async_test()
async def test_a_slow_connect_stalls_no_other_handshake(
    fixture_gateway: LocalGateway, event_log: EventLog
) -> None:
    tag = new_tag()

    async def open_slowly() -> None:
        async with client(url(fixture_gateway.stage_url, token="allow", tag=tag, slow="3")):
            pass

    opening = asyncio.create_task(open_slowly())
    await event_log.connect_of(tag)  # the slow $connect is running now
    started = time.monotonic()
    for _ in range(3):
        async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
            await request(ws, {"action": "echo"})
    took = time.monotonic() - started
    assert not opening.done()
    assert took < 2.0, f"three handshakes and echoes took {took:.2f} s"
    await opening


@pytest.fixture(scope="module")
def one_process_gateway(event_dir: Path, logs_dir: Path) -> Iterator[LocalGateway]:
    """One process per function and a 2 s timeout: invocations of a function queue up."""
    with running_gateway(
        FIXTURE_TEMPLATE,
        logs_dir / "one-process.stderr",
        "--max-processes",
        "1",
        "--integration-timeout",
        "2",
        "--parameter-overrides",
        f"EventLogDir={event_dir}",
    ) as gateway:
        yield gateway


@async_test(timeout=60)
async def test_disconnect_is_never_dropped_while_the_functions_processes_are_busy(
    one_process_gateway: LocalGateway, event_log: EventLog
) -> None:
    """Four 1.2 s `$disconnect`s queue up for the one process; each runs, past the timeout."""
    gateway = one_process_gateway
    tags = [new_tag() for _ in range(4)]
    clients = [
        await client(url(gateway.stage_url, token="allow", tag=tag, disconnect_delay="1.2"))
        for tag in tags
    ]
    ids = [(await event_log.connect_of(tag)).connection_id for tag in tags]
    await asyncio.gather(*(ws.close() for ws in clients))
    for connection_id in ids:
        await event_log.disconnect_of(connection_id, timeout=15)


@async_test(timeout=30)
async def test_an_invocation_waiting_for_a_process_runs_after_a_timeout_kills_it(
    one_process_gateway: LocalGateway,
) -> None:
    gateway = one_process_gateway
    async with (
        client(url(gateway.stage_url, token="allow", tag=new_tag())) as first,
        client(url(gateway.stage_url, token="allow", tag=new_tag())) as second,
    ):
        await send_json(first, {"action": "slow", "seconds": 5})
        await asyncio.sleep(0.3)  # the only SlowFunction process is busy now
        await send_json(second, {"action": "slow", "seconds": 0})
        timed_out = await receive_json(first, timeout=6)
        assert timed_out["message"] == "Endpoint request timed out"
        assert await receive_json(second, timeout=6) == {"slept": 0}
