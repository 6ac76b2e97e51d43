"""A lean HTTP/1.1 transport for boto3's calls to the local `@connections` API.

Fan-out makes hundreds of `post_to_connection` calls per message. In a local worker most of
their CPU goes to urllib3 and http.client, not to boto3 itself, and all of it competes for
one GIL. This transport answers botocore's `before-send` event for the management API
when it points at the local gateway over plain HTTP: one keep-alive socket per thread,
the request written as botocore prepared it, the reply read back. Everything above the
socket (parameter validation, serialisation, response parsing, `GoneException` and the
other modelled errors) is still boto3's own. Any other endpoint uses the normal transport.

The gateway also listens on a Unix socket, which it names to the processes it starts: a
request for its `http://host:port` goes there instead, the same bytes on a shorter path (a
loopback TCP round trip costs about twice the CPU and latency of a Unix socket one here).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_TIMEOUT = 10.0
_SKIPPED_HEADERS = frozenset({"host", "content-length", "connection"})


class _Headers(dict[str, str]):
    """Response headers by lower-cased name, looked up case-insensitively: all botocore asks
    of them, at a quarter of the cost of its own `HeadersDict` (it lower-cases them for
    `ResponseMetadata` too)."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


class _Body:
    """What botocore reads a response body from (`raw.stream()`)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


#: Where a connection goes: (host, port) over TCP, or the path of a Unix socket.
Address = tuple[str, int] | str


class _Connection:
    def __init__(self, address: Address) -> None:
        self.address = address
        #: Answers read whole on this socket: a kept-alive one has served at least one.
        self.served = 0
        #: Whether a byte of the current request's answer has arrived.
        self.reply_started = False
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(_TIMEOUT)
            self.sock.connect(address)
        else:
            self.sock = socket.create_connection(address, timeout=_TIMEOUT)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Blocking, with the time limit in the kernel: a socket with a Python timeout polls
        # before each recv that would wait, and every syscall hands the GIL to another
        # fan-out thread and back. A recv past the limit fails with EAGAIN.
        self.sock.settimeout(None)
        limit = struct.pack("ll", int(_TIMEOUT), int(_TIMEOUT % 1 * 1_000_000))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, limit)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, limit)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    data = body.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


class LeanTransport:
    """botocore `before-send` handler: None (normal transport) unless the URL is local HTTP."""

    def __init__(self, unix_sockets: dict[str, str] | None = None) -> None:
        """`unix_sockets`: origins (`http://127.0.0.1:3001`) served on a Unix socket too."""
        self._local = threading.local()
        # Every call of a fan-out goes to the same gateway: its URL prefix is parsed once.
        self._origins: dict[str, Address | None] = dict(unix_sockets or {})

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        url = request.url
        origin_end = url.find("/", 8)  # after "http://" or "https://"
        origin = url if origin_end < 0 else url[:origin_end]
        address = self._address(origin)
        if address is None:
            return None
        target = "/" if origin_end < 0 else url[origin_end:]
        body = _body_bytes(request.body)
        lines = [f"{request.method} {target} HTTP/1.1", f"Host: {origin[7:]}"]
        for name, value in request.headers.items():
            if name.lower() not in _SKIPPED_HEADERS:
                lines.append(f"{name}: {value.decode() if isinstance(value, bytes) else value}")
        lines.append(f"Content-Length: {len(body)}\r\n\r\n")
        wire = "\r\n".join(lines).encode("latin-1") + body
        for attempt in (1, 2):
            try:
                connection = self._connection(address, fresh=attempt == 2)
            except OSError as error:
                self._close()
                if attempt == 2:
                    # What urllib3's failures become in botocore, so callers catch the same.
                    raise EndpointConnectionError(endpoint_url=request.url, error=error) from None
                continue
            connection.reply_started = False
            try:
                connection.sock.sendall(wire)
                response = self._read_response(request.url, connection)
            except (BlockingIOError, TimeoutError):
                # No answer in time: the request may have been applied, so it is not sent
                # again here; botocore's retry policy decides, as for urllib3's timeout.
                self._close()
                raise ReadTimeoutError(endpoint_url=request.url) from None
            except (ValueError, IndexError) as error:
                # An answer that is not HTTP: the socket's state is unknown, so it goes.
                self._close()
                raise HTTPClientError(error=error) from None
            except (OSError, EOFError):  # ConnectionError is an OSError
                self._close()
                # Sent again only on a kept-alive socket that failed before any byte of the
                # answer: the server had closed it while idle. Once an answer has begun, the
                # request was applied, and sending it again would deliver it twice.
                if attempt == 1 and connection.served and not connection.reply_started:
                    continue
                raise ConnectionClosedError(endpoint_url=request.url) from None
            connection.served += 1
            return response
        return None  # pragma: no cover - the loop returns or raises

    def _address(self, origin: str) -> Address | None:
        """Where to connect for this scheme://host:port, or None: not local plain HTTP."""
        if origin not in self._origins:
            split = urlsplit(origin)
            local = split.scheme == "http" and split.hostname in _LOOPBACK
            host = split.hostname or ""
            self._origins[origin] = (host, split.port or 80) if local else None
        return self._origins[origin]

    def _connection(self, address: Address, *, fresh: bool) -> _Connection:
        current: _Connection | None = getattr(self._local, "conn", None)
        if current is not None and (fresh or current.address != address):
            self._close()
            current = None
        if current is None:
            current = _Connection(address)
            self._local.conn = current
        return current

    def _close(self) -> None:
        current: _Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if current is not None:
            current.close()

    def _read_response(self, url: str, connection: _Connection) -> AWSResponse:
        # One recv usually holds the whole answer (the gateway writes it in one send).
        data = connection.sock.recv(65536)
        connection.reply_started = bool(data)
        while b"\r\n\r\n" not in data:
            more = connection.sock.recv(65536)
            if not more or len(data) > 65536:
                raise EOFError("connection closed")
            data += more
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = _Headers()
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        while len(body) < length:
            more = connection.sock.recv(65536)
            if not more:
                raise EOFError("connection closed")
            body += more
        if len(body) != length or headers.get("connection", "").lower() == "close":
            self._close()  # a reply we cannot frame, or the server is done with the socket
        response_headers: Any = headers  # the stubs want http.client's; botocore takes any
        return AWSResponse(url, status, response_headers, _Body(body[:length]))
