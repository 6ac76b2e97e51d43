"""HTTP/1.1 written and read by hand, for what a well-behaved client will not send."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

RECEIVE_SECONDS = 10.0


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # by lower-cased name
    body: bytes


def request(method: str, target: str, body: bytes = b"", *headers: str) -> bytes:
    """A request with a Host header, `headers` as written, and Content-Length for a body
    (unless `headers` declare one of their own)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", *headers]
    declared = any(h.lower().startswith("content-length:") for h in headers)
    if (body or method == "POST") and not declared:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> Response:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), RECEIVE_SECONDS)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, status, _ = status_line.split(" ", 2)
    assert version == "HTTP/1.1", status_line
    headers = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), RECEIVE_SECONDS)
    return Response(int(status), headers, body)


async def tcp_answer(port: int, wire: bytes) -> Response:
    """What the server on this loopback port answers `wire` with (written in one send)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(wire)
        await writer.drain()
        return await read_response(reader)
    finally:
        writer.close()
