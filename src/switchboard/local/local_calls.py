"""The gateway's Unix socket: the local functions' `@connections` calls, answered at once.

A fan-out waits on each POST before making the next, so the time from a request reaching
the gateway to its answer leaving is paid once per recipient. On the TCP listener a request
goes through a stream reader and a task wake-up before it is parsed; here it is parsed and
answered in the callback that received it, and a POST's frame is written to the recipient
after the answer (client_connection.send). Same HTTP, same `ManagementApi`; only the
functions the gateway starts use this path (see lean_transport), every other client uses TCP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from switchboard.local.http11 import (
    BadHttpRequest,
    HttpRequest,
    content_length,
    json_body,
    parse_head,
)
from switchboard.local.management_api import (
    NOT_FOUND,
    HttpAnswer,
    ManagementApi,
    is_management_path,
    refusal,
)

log = logging.getLogger("switchboard.local.gateway")
_HEAD_LIMIT = 64 * 1024
INTERNAL_ERROR = HttpAnswer(500, json_body({"message": "Internal server error"}))


class LocalCallsProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive, one request at a time, for `@connections` only."""

    def __init__(
        self,
        management: ManagementApi,
        closing: Callable[[], bool],
        transports: set[asyncio.Transport],
    ) -> None:
        self._management = management
        self._closing = closing
        self._transports = transports  # the gateway closes what is left at shutdown
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._waiting: asyncio.Task[None] | None = None  # an answer with simulated latency

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._transports.discard(self._transport)
        self._transport = None
        if self._waiting is not None:
            self._waiting.cancel()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._answer_all()

    def _answer_all(self) -> None:
        try:
            self._answer_buffered()
        except BadHttpRequest as error:
            self._write(refusal(error), keep_alive=False)
        except Exception:
            log.exception("unexpected error answering a local @connections call")
            self._write(INTERNAL_ERROR, keep_alive=False)

    def _answer_buffered(self) -> None:
        while self._waiting is None and self._transport is not None:
            request = self._next_request()
            if request is None:
                return
            if not is_management_path(request.path):
                self._write(NOT_FOUND, keep_alive=request.keep_alive)
            elif self._management.latency:
                self._waiting = asyncio.get_running_loop().create_task(self._answer_later(request))
            else:
                self._write(self._management.answer(request), keep_alive=request.keep_alive)

    def _next_request(self) -> HttpRequest | None:
        """The first complete request in the buffer, taken out of it; None: not all here."""
        end = self._buffer.find(b"\r\n\r\n")
        if end > _HEAD_LIMIT or (end < 0 and len(self._buffer) > _HEAD_LIMIT):
            raise BadHttpRequest("request head too large")
        if end < 0:
            return None
        request = parse_head(bytes(self._buffer[: end + 4]))
        if request.header("transfer-encoding") is not None:
            raise BadHttpRequest("chunked bodies are not accepted on this socket")
        total = end + 4 + content_length(request)
        if len(self._buffer) < total:
            return None
        request.body = bytes(self._buffer[end + 4 : total])
        del self._buffer[:total]
        return request

    async def _answer_later(self, request: HttpRequest) -> None:
        try:
            answer = await self._management.handle(request)
            self._write(answer, keep_alive=request.keep_alive)
        except Exception:
            # Answered, never left hanging: a client that timed out would send it again.
            log.exception("unexpected error answering a local @connections call")
            self._write(INTERNAL_ERROR, keep_alive=False)
            return
        finally:
            self._waiting = None
        self._answer_all()  # requests that arrived meanwhile

    def _write(self, answer: HttpAnswer, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        keep_alive = keep_alive and not self._closing()
        transport.write(answer.wire(keep_alive=keep_alive))
        if not keep_alive:
            transport.close()
            self._transports.discard(transport)
            self._transport = None
