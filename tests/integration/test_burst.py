"""A burst of 500 concurrent connects against the real app.

The trap (issue 3): moto's server is not thread-safe, and a burst of TransactWriteItems used
to fail with "dictionary changed size during iteration". Every connect must succeed and leave
exactly one connection record, one lobby membership and one user index entry.

What follows a burst is the heaviest load there is: 500 `$disconnect`s, each telling the rest
of the lobby it left (about N^2/2 = 125,000 posts, most of them to peers already gone, so each
also prunes), about a minute here. So the default run checks the burst and then kills its
gateway, and the slow run (`--run-slow`) also waits, bounded, for the table to empty.
Each test has a gateway of its own, so none of this spills into other tests.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection

from tests.integration.async_test import async_test
from tests.integration.aws_clients import dynamodb_client, table_keys
from tests.integration.chat_app import TABLE, wait_until_no_connections
from tests.integration.local_gateway import (
    APP_TEMPLATE,
    LocalGateway,
    gateway_tracebacks,
    start_gateway,
    stop_cleanly,
)
from tests.integration.ws_clients import client, url

BURST = 500
BURST_SECONDS = 120.0


def kind_of(pk: str, sk: str) -> str:
    if sk == "META":
        return "connection"
    if pk == "ROOM#lobby":
        return "lobby"
    return "user" if pk.startswith("USER#guest:") else "other"


async def burst(gateway: LocalGateway) -> list[ClientConnection]:
    """BURST concurrent connects; asserts all succeed and the table holds exactly their records."""

    async def connect(n: int) -> ClientConnection:
        address = url(gateway.stage_url, name=f"burst-{n}")
        return await client(address, open_timeout=BURST_SECONDS)

    clients = await asyncio.gather(*(connect(n) for n in range(BURST)), return_exceptions=True)
    opened = [c for c in clients if isinstance(c, ClientConnection)]
    failures = [c for c in clients if not isinstance(c, ClientConnection)]
    if failures:
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
    assert not failures, f"{len(failures)} of {BURST} connects failed, e.g. {failures[:3]!r}"
    dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
    keys = await asyncio.to_thread(table_keys, dynamodb, TABLE)
    kinds = Counter(kind_of(pk, sk) for pk, sk in keys)
    assert kinds == {"connection": BURST, "lobby": BURST, "user": BURST}
    assert len(set(keys)) == 3 * BURST
    return opened


@pytest.mark.timeout(BURST_SECONDS + 60)
@async_test(timeout=BURST_SECONDS)
async def test_burst_of_500_connects_records_each_exactly_once(tmp_path: Path) -> None:
    gateway = start_gateway(APP_TEMPLATE, tmp_path / "stderr")
    try:
        opened = await burst(gateway)
        assert not gateway_tracebacks(gateway.stderr())
    finally:
        # The mass $disconnect is the slow test's to wait for.
        gateway.kill()
    await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)


@pytest.mark.slow
@pytest.mark.timeout(BURST_SECONDS + 120)
@async_test(timeout=BURST_SECONDS + 90)
async def test_burst_of_500_connects_then_500_disconnects(tmp_path: Path) -> None:
    gateway = start_gateway(APP_TEMPLATE, tmp_path / "stderr")
    started = time.monotonic()

    async def connect_then_disconnect_all() -> None:
        opened = await burst(gateway)
        await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
        dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
        remaining = BURST_SECONDS - (time.monotonic() - started)
        await asyncio.to_thread(wait_until_no_connections, dynamodb, remaining)

    try:
        # The bound is on the burst and its aftermath, not on the gateway's start and stop.
        await asyncio.wait_for(connect_then_disconnect_all(), BURST_SECONDS)
    finally:
        await asyncio.to_thread(stop_cleanly, gateway)
