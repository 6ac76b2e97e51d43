"""The AWS SDK for JavaScript v3 works unchanged against the local `@connections` API.

Runs tests/integration/js/manage.mjs with Node.js; `scripts/setup` installs its one
dependency from the npm registry. Skipped only where Node.js itself is absent.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.integration.async_test import async_test
from tests.integration.local_gateway import LocalGateway
from tests.integration.ws_clients import client, receive_json, request

JS = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")


@pytest.mark.parametrize("with_stage", [True, False])
@async_test(timeout=60)
async def test_js_sdk_posts_reads_and_deletes(chat_gateway: LocalGateway, with_stage: bool) -> None:
    assert (JS / "node_modules" / "@aws-sdk").is_dir(), "run scripts/setup (npm install)"
    endpoint = chat_gateway.management_endpoint if with_stage else chat_gateway.http_url
    async with client(f"{chat_gateway.stage_url}?name=js") as ws:
        room = f"js-sdk-{with_stage}"
        joined = await request(ws, {"action": "join", "room": room}, timeout=30)
        while _lobby_presence(joined):
            joined = await receive_json(ws, 30)  # the lobby's comings and goings come first
        assert (joined.get("type"), joined.get("room")) == ("joined", room), joined
        connection_id = joined["connectionId"]
        run = await _node(endpoint, connection_id)
        assert run["post"]["status"] == 200
        assert await _next_non_presence(ws) == {"from": "js-sdk"}
        described = run["get"]["answer"]
        assert run["get"]["status"] == 200
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
        assert described["ConnectedAt"] and described["LastActiveAt"]
        assert run["gone"] == {"status": 410, "error": "GoneException"}
        assert run["delete"]["status"] == 204
        with pytest.raises(ConnectionClosed):
            while True:
                await receive_json(ws)


def _lobby_presence(frame: Any) -> bool:
    """Other tests' clients coming and going in the lobby, which every connection is in."""
    return (
        isinstance(frame, dict)
        and frame.get("type") in ("joined", "left")
        and frame.get("room") == "lobby"
    )


async def _next_non_presence(ws: Any) -> Any:
    """The next frame that is not a lobby `joined`/`left` of other tests' clients."""
    for _ in range(100):
        frame = await receive_json(ws)
        if not _lobby_presence(frame):
            return frame
    raise AssertionError("only presence frames arrived")


async def _node(endpoint: str, connection_id: str) -> dict[str, dict[str, Any]]:
    assert NODE is not None
    done = await asyncio.to_thread(
        subprocess.run,
        [NODE, str(JS / "manage.mjs"), endpoint, connection_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
