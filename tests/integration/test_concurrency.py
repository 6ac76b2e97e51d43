"""Handlers run off the event loop: a slow or crashing handler stalls no other connection."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

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


@async_test(timeout=60)
async def test_disconnect_is_never_dropped_while_the_functions_processes_are_busy(
    event_dir: Path, event_log: EventLog, tmp_path: Path
) -> None:
    """One process for each function and a 2 s timeout: four 1.2 s `$disconnect`s queue up."""
    with running_gateway(
        FIXTURE_TEMPLATE,
        tmp_path / "stderr",
        "--max-processes",
        "1",
        "--integration-timeout",
        "2",
        "--parameter-overrides",
        f"EventLogDir={event_dir}",
    ) as gateway:
        tags = [new_tag() for _ in range(4)]
        clients = [
            await client(url(gateway.stage_url, token="allow", tag=tag, disconnect_delay="1.2"))
            for tag in tags
        ]
        ids = [(await event_log.connect_of(tag)).connection_id for tag in tags]
        await asyncio.gather(*(ws.close() for ws in clients))
        for connection_id in ids:
            await event_log.disconnect_of(connection_id, timeout=15)
