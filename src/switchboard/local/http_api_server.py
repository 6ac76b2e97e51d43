"""The local HTTP API: the template's `HttpApi` routes on their own port, as API Gateway
serves them.

Each request is routed as HTTP APIs route (http_api_routing), turned into a payload 2.0
event (http_api_events) and handed to the route's function in a warm process of its own,
through the same function pools as the WebSocket routes; the result becomes the response
(http_api_responses). The Mangum-wrapped app behind a route therefore runs exactly as in
AWS, event in and result out. Requests are served concurrently, each connection kept alive
until the client closes it; all handler work happens in other processes, so a slow request
never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Mapping
from typing import Any

from switchboard.local.functions import FunctionPool, time_limit
from switchboard.local.http11 import (
    BadHttpRequest,
    BodyTooLarge,
    HttpRequest,
    json_body,
    read_body,
    read_head,
    response_bytes,
)
from switchboard.local.http_api_events import HttpApiRequest, http_api_event
from switchboard.local.http_api_responses import (
    INTERNAL_SERVER_ERROR,
    NOT_FOUND,
    REQUEST_TOO_LARGE,
    SERVICE_UNAVAILABLE,
    HttpApiResponse,
    InvalidLambdaResponse,
    from_lambda_result,
)
from switchboard.local.http_api_routing import HttpRouter
from switchboard.local.template_model import FunctionModel, HttpApiModel, HttpRouteModel

log = logging.getLogger("switchboard.local")

#: API Gateway's payload limit for HTTP APIs: 10 MB.
MAX_REQUEST_BODY = 10 * 1024 * 1024
_HEAD_LIMIT = 256 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HttpApiServer:
    """Serves one HTTP API from the template, with its functions in `pools`."""

    def __init__(
        self,
        api: HttpApiModel,
        functions: Mapping[str, FunctionModel],
        pools: Mapping[str, FunctionPool],
    ) -> None:
        self.api = api
        self.functions = functions
        self.pools = pools
        self.router: HttpRouter[HttpRouteModel] = HttpRouter(api.routes)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        #: Connections between reading a request and writing its response.
        self._busy: set[asyncio.Task[Any]] = set()
        self._closing = False

    async def start(self, listener: socket.socket) -> None:
        self._server = await asyncio.start_server(
            self._serve_client, sock=listener, limit=_HEAD_LIMIT
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting, let requests already running finish, close every connection."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._busy:
            # Each answers and then closes (no keep-alive once closing); a request is bounded
            # by its route's timeout, at most API Gateway's 30 s.
            longest = max((route.timeout_ms for route in self.api.routes.values()), default=0)
            await asyncio.wait(set(self._busy), timeout=longest / 1000 + 1)
        for task in self._connections:
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=2)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)

    # ---------------------------------------------------------------- transport

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None  # asyncio serves each connection in a task of its own
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        try:
            while not self._closing:
                request = await read_head(reader)
                if request is None:
                    return
                self._busy.add(task)
                try:
                    if (request.header("expect") or "").lower() == "100-continue":
                        _check_length(request)
                        writer.write(_CONTINUE)
                    request.body = await read_body(reader, request, MAX_REQUEST_BODY)
                except BodyTooLarge:
                    # The rest of the body is never read, so the connection cannot go on.
                    await _answer(writer, request, REQUEST_TOO_LARGE, keep_alive=False)
                    return
                response = await self.handle(request, str(peer[0]))
                keep_alive = request.keep_alive and not self._closing
                await _answer(writer, request, response, keep_alive=keep_alive)
                self._busy.discard(task)
                if not keep_alive:
                    return
        except (BadHttpRequest, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            with contextlib.suppress(Exception):
                message = str(error) or "malformed request"
                writer.write(response_bytes(400, json_body({"message": message}), keep_alive=False))
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("unexpected error serving an HTTP API client")
        finally:
            self._busy.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    # ----------------------------------------------------------------- requests

    def route_path(self, path: str) -> str | None:
        """The path routes are matched against: without the stage, for a named stage."""
        if self.api.stage == "$default":
            return path
        prefix = f"/{self.api.stage}"
        if path == prefix:
            return "/"
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
        return None

    async def handle(self, request: HttpRequest, source_ip: str) -> HttpApiResponse:
        route_path = self.route_path(request.path)
        match = self.router.match(request.method, route_path) if route_path is not None else None
        if match is None:
            return NOT_FOUND
        route = match.target
        event = http_api_event(
            HttpApiRequest(
                method=request.method,
                path=request.path,
                raw_query_string=request.query_string,
                headers=request.headers,
                body=request.body,
                protocol=request.version,
                source_ip=source_ip,
                server_port=self.port,
            ),
            route_key=match.route_key,
            path_parameters=match.path_parameters,
            stage=self.api.stage,
        )
        return await self._invoke(route, event)

    async def _invoke(self, route: HttpRouteModel, event: dict[str, Any]) -> HttpApiResponse:
        # The function's own Timeout is a function error (500); the integration timeout is
        # API Gateway giving up (503).
        limit, function_first = time_limit(self.functions[route.function], route.timeout_ms / 1000)
        request_id = event["requestContext"]["requestId"]
        try:
            invocation = await self.pools[route.function].invoke(event, request_id, limit)
        except Exception:
            log.exception("%s: the invocation failed on %s", route.function, route.route_key)
            return INTERNAL_SERVER_ERROR
        if invocation.timed_out:
            log.warning("%s timed out after %g s on %s", route.function, limit, route.route_key)
            return INTERNAL_SERVER_ERROR if function_first else SERVICE_UNAVAILABLE
        if not invocation.ok:
            error = invocation.error or {}
            log.warning(
                "%s failed on %s: %s: %s",
                route.function,
                route.route_key,
                error.get("errorType"),
                error.get("errorMessage"),
            )
            return INTERNAL_SERVER_ERROR
        try:
            return from_lambda_result(invocation.result)
        except InvalidLambdaResponse as error:
            log.warning(
                "%s answered %s with an invalid response: %s",
                route.function,
                route.route_key,
                error,
            )
            return INTERNAL_SERVER_ERROR


def _check_length(request: HttpRequest) -> None:
    """Refuse an announced body over the limit before the client sends it."""
    length = request.header("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_REQUEST_BODY:
        raise BodyTooLarge("request body too large")


async def _answer(
    writer: asyncio.StreamWriter,
    request: HttpRequest,
    response: HttpApiResponse,
    *,
    keep_alive: bool,
) -> None:
    data = response_bytes(response.status, response.body, response.headers, keep_alive=keep_alive)
    if request.method == "HEAD" and response.body:
        # The head says how long the body would be; a HEAD answer never carries one.
        data = data[: data.index(b"\r\n\r\n") + 4]
    writer.write(data)
    await writer.drain()
