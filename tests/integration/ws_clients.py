"""WebSocket clients for the tests: the `websockets` library, and a raw one for odd frames.

The library client is set up to be predictable: no compression (frames cross the wire as
sent, so frame-size limits are exact), no keepalive pings (they would reset idle timers),
and a user agent of its own that events and `@connections` GET must report.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect

USER_AGENT = "switchboard-integration-tests/1.0"
RECEIVE_SECONDS = 10.0


def url(base: str, **query: str) -> str:
    return f"{base}?{urlencode(query)}" if query else base


def client(address: str, **options: Any) -> connect:
    """`websockets.connect` with the tests' settings; use as `async with` or `await`."""
    settings: dict[str, Any] = {
        "compression": None,
        "ping_interval": None,
        "open_timeout": 30,
        "close_timeout": 5,
        "user_agent_header": USER_AGENT,
        "max_size": 4 * 1024 * 1024,
    }
    settings.update(options)
    return connect(address, **settings)


async def receive_json(ws: ClientConnection, timeout: float = RECEIVE_SECONDS) -> Any:
    try:
        message = await asyncio.wait_for(ws.recv(), timeout)
    except TimeoutError:
        raise AssertionError(f"no message within {timeout} s") from None
    assert isinstance(message, str), f"expected a text frame, got {message!r}"
    return json.loads(message)


async def send_json(ws: ClientConnection, message: Any) -> None:
    await ws.send(json.dumps(message))


async def request(ws: ClientConnection, message: Any, timeout: float = RECEIVE_SECONDS) -> Any:
    """Send a JSON message and return the next JSON frame (the route response)."""
    await send_json(ws, message)
    return await receive_json(ws, timeout)


async def connection_id(ws: ClientConnection) -> str:
    """The connection's id, as the fixture's echo route reports it."""
    reply = await request(ws, {"action": "echo"})
    return str(reply["echo"]["requestContext"]["connectionId"])


async def closed_with(
    ws: ClientConnection, timeout: float = RECEIVE_SECONDS
) -> tuple[int | None, str | None]:
    """Wait for the server to close the connection; the close code and reason it sent."""
    await asyncio.wait_for(ws.wait_closed(), timeout)
    received = ws.protocol.close_rcvd
    return (received.code, received.reason) if received is not None else (None, None)


class RawWebSocket:
    """A hand-written client, for what a well-behaved library will not send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, path: str) -> RawWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nUser-Agent: {USER_AGENT}\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        status_line = head.split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1.1 101"), f"handshake refused: {head!r}"
        return cls(reader, writer)

    async def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        mask = os.urandom(4)
        length = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if length < 126:
            head += bytes([0x80 | length])
        elif length < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", length)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self.writer.write(head + mask + masked)
        await self.writer.drain()

    async def read_until_eof(self, timeout: float = RECEIVE_SECONDS) -> bytes:
        """Everything the server sends until it closes the TCP connection."""
        return await asyncio.wait_for(self.reader.read(), timeout)

    def drop(self) -> None:
        """Lose the connection: no close frame, a TCP reset."""
        self.writer.transport.abort()
