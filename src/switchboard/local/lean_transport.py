"""A lean HTTP/1.1 transport for boto3's calls to the local `@connections` API.

Fan-out makes hundreds of `post_to_connection` calls per message. In a local worker most of
their CPU goes to urllib3 and http.client, not to boto3 itself, and all of it competes for
one GIL. This transport answers botocore's `before-send` event for the management API
when it points at the local gateway over plain HTTP: one keep-alive socket per thread,
the request written as botocore prepared it, the reply read back. Everything above the
socket (parameter validation, serialisation, response parsing, `GoneException` and the
other modelled errors) is still boto3's own. Any other endpoint uses the normal transport.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import EndpointConnectionError

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_TIMEOUT = 10.0


class _Body:
    """What botocore reads a response body from (`raw.stream()`)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class _Connection:
    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock = socket.create_connection(address, timeout=_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def close(self) -> None:
        for closeable in (self.reader, self.sock):
            with contextlib.suppress(OSError):
                closeable.close()


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

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        url = urlsplit(request.url)
        if url.scheme != "http" or url.hostname not in _LOOPBACK:
            return None
        address = (url.hostname, url.port or 80)
        target = url.path + (f"?{url.query}" if url.query else "")
        body = _body_bytes(request.body)
        lines = [f"{request.method} {target} HTTP/1.1", f"Host: {url.netloc}"]
        lines += [
            f"{k}: {v.decode() if isinstance(v, bytes) else v}"
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "connection")
        ]
        lines.append(f"Content-Length: {len(body)}")
        wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            # A kept-alive socket may have been closed by the server: retry once on a new one.
            try:
                connection = self._connection(address, fresh=attempt == 2)
                connection.sock.sendall(wire)
                return self._read_response(request.url, connection)
            except (ConnectionError, EOFError, OSError) as error:
                self._close()
                if attempt == 2:
                    # What urllib3's failures become in botocore, so callers catch the same.
                    raise EndpointConnectionError(endpoint_url=request.url, error=error) from None
        return None  # pragma: no cover - the loop returns or raises

    def _connection(self, address: tuple[str, int], *, fresh: bool) -> _Connection:
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
        reader = connection.reader
        status_line = reader.readline(65537)
        if not status_line:
            raise EOFError("connection closed")
        status = int(status_line.split(b" ", 2)[1])
        headers = HTTPHeaders()
        while True:
            line = reader.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip()] = value.strip()
        length = int(headers.get("Content-Length", "0") or 0)
        data = reader.read(length) if length else b""
        if headers.get("Connection", "").lower() == "close":
            self._close()
        return AWSResponse(url, status, headers, _Body(data))
