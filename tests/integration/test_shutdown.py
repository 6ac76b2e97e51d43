"""Ctrl-C: every client gets a 1001 close frame, `$disconnect` runs for each, exit code 0.

Each test ends a gateway of its own. Whether `$disconnect` ran is read from records that
outlive the process: the fixture handlers' event files, and the real app's log lines (one
JSON line per invocation) in the gateway's stderr file.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

from tests.integration.async_test import async_test
from tests.integration.chat_app import wait_until_quiet
from tests.integration.event_log import EventLog, new_tag
from tests.integration.local_gateway import (
    APP_TEMPLATE,
    FIXTURE_TEMPLATE,
    LocalGateway,
    gateway_tracebacks,
    start_gateway,
    stop_cleanly,
)
from tests.integration.ws_clients import client, closed_with, receive_json, request, url

#: How long a Ctrl-C may take when nothing is in flight.
PROMPT_SECONDS = 5.0


def app_gateway(tmp_path: Path) -> LocalGateway:
    return start_gateway(APP_TEMPLATE, tmp_path / "stderr", "--integration-timeout", "10")


def logged_invocations(gateway: LocalGateway, route: str) -> list[dict[str, Any]]:
    lines = (line for line in gateway.stderr().splitlines() if line.startswith("{"))
    records = [json.loads(line) for line in lines]
    return [r for r in records if r.get("message") == "invocation" and r.get("route") == route]


async def interrupted(gateway: LocalGateway, clients: list[ClientConnection]) -> list[int | None]:
    """Ctrl-C, then the close code each client received."""
    gateway.interrupt()
    closes = await asyncio.gather(*(closed_with(ws, timeout=30) for ws in clients))
    return [code for code, _ in closes]


@async_test(timeout=90)
async def test_ctrl_c_closes_every_client_with_1001_and_runs_disconnect_for_each(
    event_dir: Path, event_log: EventLog, tmp_path: Path
) -> None:
    gateway = start_gateway(
        FIXTURE_TEMPLATE, tmp_path / "stderr", "--parameter-overrides", f"EventLogDir={event_dir}"
    )
    try:
        tags = [new_tag() for _ in range(3)]
        clients = [await client(url(gateway.stage_url, token="allow", tag=tag)) for tag in tags]
        ids = [(await event_log.connect_of(tag)).connection_id for tag in tags]
        assert await interrupted(gateway, clients) == [1001, 1001, 1001]
    finally:
        await asyncio.to_thread(stop_cleanly, gateway)
    for connection_id in ids:
        disconnects = event_log.of_connection("disconnect", connection_id)
        assert len(disconnects) == 1, f"{connection_id}: {len(disconnects)} $disconnect runs"
        context = disconnects[0].event["requestContext"]
        assert context["disconnectStatusCode"] == 1001
        assert context["disconnectReason"] == ""  # as AWS reports its 1001 closes


@async_test(timeout=90)
async def test_ctrl_c_with_the_real_app(tmp_path: Path) -> None:
    gateway = app_gateway(tmp_path)
    try:
        clients = [await client(url(gateway.stage_url, name=name)) for name in ("ann", "ben", "cy")]
        assert await interrupted(gateway, clients) == [1001, 1001, 1001]
    finally:
        await asyncio.to_thread(stop_cleanly, gateway)
    connects = {r["connectionId"] for r in logged_invocations(gateway, "$connect")}
    disconnects = [r["connectionId"] for r in logged_invocations(gateway, "$disconnect")]
    assert len(connects) == 3
    assert sorted(disconnects) == sorted(connects)
    assert all(r["outcome"] == "ok" for r in logged_invocations(gateway, "$disconnect"))
    # Each $disconnect told the lobby; @connections still answered (410: the others are gone).
    assert '"post failed"' not in gateway.stderr()


@async_test(timeout=90)
async def test_ctrl_c_is_prompt_after_the_app_used_the_management_api(tmp_path: Path) -> None:
    gateway = app_gateway(tmp_path)
    try:
        async with (
            client(url(gateway.stage_url, name="ann")) as ann,
            client(url(gateway.stage_url, name="ben")) as ben,
        ):
            sent = await request(ann, {"action": "sendmessage", "data": "hi"})
            assert sent["delivered"] == 1
            assert (await receive_json(ben))["data"] == "hi"
        await asyncio.to_thread(wait_until_quiet, gateway)
        started = time.monotonic()
        gateway.interrupt()
        await asyncio.to_thread(gateway.wait)
        took = time.monotonic() - started
    finally:
        await asyncio.to_thread(stop_cleanly, gateway)
    assert took < PROMPT_SECONDS, f"Ctrl-C took {took:.1f} s with no client connected"


@async_test(timeout=90)
async def test_ctrl_c_during_a_pending_connect(
    event_dir: Path, event_log: EventLog, tmp_path: Path
) -> None:
    gateway = start_gateway(
        FIXTURE_TEMPLATE, tmp_path / "stderr", "--parameter-overrides", f"EventLogDir={event_dir}"
    )
    tag = new_tag()
    try:

        async def open_and_close() -> tuple[int | None, int | None]:
            """(HTTP status of a refusal, close code after an accept)."""
            try:
                ws = await client(url(gateway.stage_url, token="allow", tag=tag, slow="2"))
            except Exception as error:
                response = getattr(error, "response", None)
                return (response.status_code if response is not None else None), None
            return None, (await closed_with(ws, timeout=30))[0]

        opening = asyncio.create_task(open_and_close())
        connection_id = (await event_log.connect_of(tag)).connection_id
        gateway.interrupt()
        refused_with, closed_code = await opening
    finally:
        await asyncio.to_thread(stop_cleanly, gateway)
    assert refused_with is not None or closed_code == 1001, "the client got no answer"
    # $connect succeeded, so one $disconnect balances it (the app removes what it recorded).
    assert len(event_log.of_connection("disconnect", connection_id)) == 1
    assert not gateway_tracebacks(gateway.stderr())
