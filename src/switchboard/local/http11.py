"""The small part of HTTP/1.1 the gateway speaks: request heads, bodies, responses.

Enough for boto3, the AWS SDK for JavaScript, curl and browsers: Content-Length and chunked
bodies, keep-alive. A request that is not well-formed gets 400 and the connection closes.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_BODY = 10 * 1024 * 1024


class BadHttpRequest(Exception):
    """The bytes received are not an HTTP/1.1 request we can serve."""


class BodyTooLarge(BadHttpRequest):
    """The request body is over the limit (the HTTP API answers 413 for it)."""


@dataclass
class HttpRequest:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    raw_head: bytes
    body: bytes = b""
    # Derived once in __post_init__: the @connections path serves hundreds of these per
    # broadcast, so nothing is re-parsed per use.
    path: str = field(init=False)
    query_string: str = field(init=False)
    _lowered: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.target.startswith(("http://", "https://")):
            split = urlsplit(self.target)  # absolute-form, as a proxy sends it
            path, query = split.path, split.query
        else:
            # origin-form: not urlsplit, which reads "//host/x" as a host and a path "/x".
            path, _, query = self.target.partition("?")
        self.path = unquote(path) or "/"
        self.query_string = query
        self._lowered = {name.lower(): value for name, value in self.headers}

    def header(self, name: str, default: str | None = None) -> str | None:
        return self._lowered.get(name.lower(), default)

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string, keep_blank_values=True)

    @property
    def keep_alive(self) -> bool:
        connection = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    @property
    def is_websocket_upgrade(self) -> bool:
        upgrade = (self.header("upgrade") or "").lower()
        return self.method == "GET" and upgrade == "websocket"


async def read_head(reader: asyncio.StreamReader) -> HttpRequest | None:
    """The next request head on the connection, or None at a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        if not error.partial.strip():
            return None
        raise BadHttpRequest("the connection closed in the middle of a request") from None
    except asyncio.LimitOverrunError:
        raise BadHttpRequest("request head too large") from None
    return parse_head(head)


def parse_head(head: bytes) -> HttpRequest:
    try:
        text = head.decode("latin-1")
        request_line, *lines = text.split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError:
        raise BadHttpRequest("malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise BadHttpRequest(f"unsupported protocol {version!r}")
    headers: list[tuple[str, str]] = []
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadHttpRequest(f"malformed header line {line[:40]!r}")
        headers.append((name, value.strip()))
    return HttpRequest(method, target, version, headers, head)


async def read_body(
    reader: asyncio.StreamReader, request: HttpRequest, limit: int = MAX_BODY
) -> bytes:
    if (request.header("transfer-encoding") or "").lower() == "chunked":
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                length = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadHttpRequest("malformed chunk size") from None
            if length == 0:
                # Trailers (rarely sent) end with an empty line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            size += length
            if size > limit:
                raise BodyTooLarge("request body too large")
            chunks.append(await reader.readexactly(length))
            await reader.readexactly(2)
    return await reader.readexactly(content_length(request, limit))


def content_length(request: HttpRequest, limit: int = MAX_BODY) -> int:
    """The request's declared body length (0 without the header), checked against `limit`."""
    length_header = request.header("content-length")
    if length_header is None:
        return 0
    # Digits only: int() would also take "+5", " 5" and "1_0" (and refuses over 4,300
    # digits with a ValueError of its own); 18 digits are far past any limit here.
    if not (length_header.isascii() and length_header.isdigit()) or len(length_header) > 18:
        raise BadHttpRequest("malformed Content-Length")
    length = int(length_header)
    if length > limit:
        raise BodyTooLarge("request body too large")
    return length


_STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}" for status in HTTPStatus}
_date_cache: tuple[int, str] = (0, "")


def _date_header() -> str:
    """The Date header, formatted once per second rather than once per response."""
    global _date_cache  # noqa: PLW0603 - a one-entry cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, f"Date: {formatdate(now, usegmt=True)}")
    return _date_cache[1]


def response_bytes(
    status: int,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    *,
    keep_alive: bool = True,
) -> bytes:
    # A function may answer any status, even one without a registered reason phrase.
    status_line = _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown"
    lines = [status_line, _date_header()]
    names = set()
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
        names.add(name.lower())
    if status != 204 and status >= 200:
        lines.append(f"Content-Length: {len(body)}")
    if "content-type" not in names and body:
        lines.append("Content-Type: application/json")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body if status != 204 else b"")


def json_body(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
