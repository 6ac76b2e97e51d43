"""The local gateway: template.yaml's WebSocket API and `@connections` API on one port.

For each handshake it runs the authorizer and `$connect` before answering, as API Gateway
does; each message is routed by the template's route selection expression and handed to
that route's function in a warm process of its own; `@connections` requests deliver to,
describe or close live connections. Messages of one connection are handled in order; all
handler work happens in other processes, so a slow or crashing handler stalls nobody else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from websockets.datastructures import Headers
from websockets.frames import Frame
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from switchboard.local import authorizer as authz
from switchboard.local.client_connection import (
    ABNORMAL,
    GOING_AWAY,
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
    ClientConnection,
    Ending,
    State,
)
from switchboard.local.event_builder import (
    ConnectionInfo,
    aws_id,
    connect_event,
    disconnect_event,
    message_event,
)
from switchboard.local.faults import FaultInjector, FaultPlan
from switchboard.local.functions import FunctionPool, Invocation, time_limit
from switchboard.local.http11 import (
    BadHttpRequest,
    HttpRequest,
    json_body,
    read_body,
    read_head,
)
from switchboard.local.local_calls import LocalCallsProtocol
from switchboard.local.management_api import (
    NOT_FOUND,
    HttpAnswer,
    ManagementApi,
    is_management_path,
    refusal,
)
from switchboard.local.routing import select_route
from switchboard.local.template_intrinsics import LOCAL_API_ID
from switchboard.local.template_model import TemplateModel

log = logging.getLogger("switchboard.local")

INTEGRATION_TIMEOUT = 29.0


@dataclass
class GatewayOptions:
    host: str = "127.0.0.1"
    port: int = 3001
    idle_timeout: float = 600.0
    max_duration: float = 7200.0
    management_latency_ms: float = 0.0
    integration_timeout: float = INTEGRATION_TIMEOUT
    max_processes: int = 8
    #: Injected faults (`--inject-fault`); none by default.
    faults: FaultPlan = field(default_factory=FaultPlan)


class Gateway:
    """Serves one WebSocket API from a template model, with functions in `pools`."""

    def __init__(
        self, model: TemplateModel, pools: dict[str, FunctionPool], options: GatewayOptions
    ) -> None:
        self.model = model
        self.pools = pools
        self.options = options
        self.connections: dict[str, ClientConnection] = {}
        self.faults = FaultInjector(options.faults) if options.faults.active else None
        self.management = ManagementApi(
            model.stage,
            self.connections.get,
            self._close_from_server,
            options.management_latency_ms,
            faults=self.faults,
            vanish=self._vanish,
        )
        self._server: asyncio.Server | None = None
        self._unix_server: asyncio.Server | None = None
        self._local_calls: set[asyncio.Transport] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http_tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._sweeper: asyncio.Task[None] | None = None
        self.port = options.port

    # ------------------------------------------------------------------ lifecycle

    async def start(
        self, listener: socket.socket | None = None, unix_socket: str | None = None
    ) -> None:
        """Serve on `listener` (or the options' host and port), and on `unix_socket` too: the
        path the local functions' `@connections` calls take (see lean_transport)."""
        if listener is not None:
            self._server = await asyncio.start_server(
                self._serve_client, sock=listener, limit=256 * 1024
            )
        else:
            self._server = await asyncio.start_server(
                self._serve_client,
                self.options.host,
                self.options.port,
                limit=256 * 1024,
                backlog=1024,
            )
        self.port = self._server.sockets[0].getsockname()[1]
        if unix_socket is not None:
            self._unix_server = await asyncio.get_running_loop().create_unix_server(
                lambda: LocalCallsProtocol(
                    self.management, lambda: self._closing, self._local_calls
                ),
                unix_socket,
                backlog=1024,
            )
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        """Close every client with 1001, run `$disconnect` for each, then stop serving."""
        self._closing = True  # new handshakes are refused from here on
        if self._sweeper is not None:
            self._sweeper.cancel()
        # The listener stays open until every $disconnect has run: their fan-out still
        # posts to @connections (and learns that the other clients are gone).
        # Connections still in $connect finish their handshake in _websocket (refused there).
        connections = [c for c in self.connections.values() if c.state is State.OPEN]
        for connection in connections:
            connection.close(GOING_AWAY)
        # Concurrently: the function pools bound how many run at once.
        await asyncio.gather(*(self._finish(c, GOING_AWAY) for c in connections))
        current = asyncio.current_task()
        pending = [t for t in self._tasks if not t.done() and t is not current]
        if pending:
            await asyncio.wait(pending, timeout=self.options.integration_timeout + 1)
        for task in [*self._tasks, *self._http_tasks]:
            if task is not current:
                task.cancel()
        for transport in list(self._local_calls):
            transport.close()
        for server in (self._server, self._unix_server):
            if server is not None:
                server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), timeout=2)

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _sweep(self) -> None:
        """Close connections past the idle timeout or the maximum duration (1001)."""
        while True:
            await asyncio.sleep(min(1.0, self.options.idle_timeout / 4))
            for connection in list(self.connections.values()):
                if connection.state is not State.OPEN:
                    continue
                if (
                    connection.idle_seconds() > self.options.idle_timeout
                    or connection.age_seconds() > self.options.max_duration
                ):
                    connection.close(GOING_AWAY)
                    connection.writer.close()

    # ---------------------------------------------------------------- transport

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        try:
            request = await read_head(reader)
            if request is None:
                return
            if request.is_websocket_upgrade and not is_management_path(request.path):
                if task is not None:
                    # Shutdown waits for these: their $disconnect runs on the way out.
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                await self._websocket(request, reader, writer)
            else:
                if task is not None:
                    # Kept-alive HTTP connections idle forever: shutdown cancels them.
                    self._http_tasks.add(task)
                    task.add_done_callback(self._http_tasks.discard)
                await self._http(request, reader, writer)
        except (BadHttpRequest, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            answer = refusal(error)
            with contextlib.suppress(Exception):
                writer.write(answer.wire(keep_alive=False))
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("unexpected error serving a client")
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _http(
        self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            request.body = await read_body(reader, request)
            if is_management_path(request.path):
                answer = await self.management.handle(request)
            elif request.path in ("/", f"/{self.model.stage}"):
                answer = HttpAnswer(
                    426,
                    json_body(
                        {"message": "this is a WebSocket API: connect with a WebSocket client"}
                    ),
                    (("Upgrade", "websocket"),),
                )
            else:
                answer = NOT_FOUND
            keep_alive = request.keep_alive and not self._closing
            writer.write(answer.wire(keep_alive=keep_alive))
            if not keep_alive:
                await writer.drain()
                return
            next_request = await read_head(reader)
            if next_request is None:
                return
            request = next_request

    # ---------------------------------------------------------------- WebSocket

    def _connection_info(
        self, request: HttpRequest, writer: asyncio.StreamWriter
    ) -> ConnectionInfo:
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        host = request.header("host") or f"{self.options.host}:{self.port}"
        headers = [*request.headers]
        headers += [
            ("X-Forwarded-For", str(peer[0])),
            ("X-Forwarded-Port", str(self.port)),
            ("X-Forwarded-Proto", "http"),
        ]
        return ConnectionInfo(
            connection_id=aws_id(),
            api_id=LOCAL_API_ID,
            stage=self.model.stage,
            domain_name=host,
            source_ip=str(peer[0]),
            user_agent=request.header("user-agent"),
            connected_at=int(time.time() * 1000),
            headers=headers,
            query=request.query,
        )

    async def _websocket(
        self, request: HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        protocol = ServerProtocol(max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES))
        protocol.receive_data(request.raw_head)
        handshake = next((e for e in protocol.events_received() if isinstance(e, Request)), None)
        if handshake is None:
            raise BadHttpRequest("not a valid WebSocket handshake")
        info = self._connection_info(request, writer)
        connection = ClientConnection(info, protocol, writer)

        def reject(status: int, text: str) -> None:
            protocol.send_response(rejection(status, text))
            connection.flush()

        if request.path.rstrip("/") not in ("", f"/{self.model.stage}") or self._closing:
            reject(403, "Forbidden")
            return
        # A request that is not a WebSocket handshake never becomes a connection: it is
        # refused before the authorizer and `$connect` run (nor `$disconnect`, which would
        # tell the app that someone it never saw has left).
        checked = ServerProtocol(max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES)).accept(handshake)
        if checked.status_code != 101:
            protocol.send_response(checked)
            connection.flush()
            return
        self.connections[info.connection_id] = connection
        try:
            status = await self._run_connect(connection)
        except BaseException:
            self.connections.pop(info.connection_id, None)
            raise
        if status is not None:
            self.connections.pop(info.connection_id, None)
            reject(status[0], status[1])
            return
        if self._closing:
            # Shut down while $connect ran: refuse, and balance the $connect that succeeded.
            reject(503, "Service Unavailable: the gateway is shutting down")
            await self._finish(connection, GOING_AWAY)
            return
        response = protocol.accept(handshake)
        protocol.send_response(response)
        connection.flush()
        if response.status_code != 101:
            # Checked above, so not expected; `$connect` has run, so balance it.
            await self._finish(connection, ABNORMAL)
            return
        connection.state = State.OPEN
        await self._read_frames(connection, reader)

    async def _run_connect(self, connection: ClientConnection) -> tuple[int, str] | None:
        """Authorizer, then `$connect`; the HTTP status that rejects the handshake, if any."""
        route = self.model.routes.get("$connect")
        if route is None:
            return None
        if route.authorizer is not None:
            authorizer = self.model.authorizers[route.authorizer]
            verdict = await authz.authorize(
                authorizer,
                connection.info,
                self.pools,
                self._time_limit(authorizer.function)[0],
            )
            if verdict.status is not None:
                return verdict.status, verdict.message
            connection.info.authorizer = verdict.context
        invocation = await self._invoke(route.function, connect_event(connection.info))
        if not invocation.ok:
            return 500, "Internal server error"
        result = invocation.result
        status = result.get("statusCode", 200) if isinstance(result, dict) else 200
        try:
            status = int(status)
        except (TypeError, ValueError):
            return 500, "Internal server error"
        if not 200 <= status < 600:
            # Not a final HTTP status (0, 101, 1000): a malformed integration response.
            return 500, "Internal server error"
        if not 200 <= status < 300:
            body = result.get("body") if isinstance(result, dict) else None
            return status, str(body or "")
        if isinstance(result, dict):
            headers = result.get("headers") or {}
            chosen = {k.lower(): v for k, v in headers.items()}.get("sec-websocket-protocol")
            if chosen:
                connection.protocol.available_subprotocols = [chosen]
        return None

    async def _read_frames(
        self, connection: ClientConnection, reader: asyncio.StreamReader
    ) -> None:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        dispatcher = self._spawn(self._dispatch(connection, queue))
        protocol = connection.protocol
        try:
            while True:
                try:
                    data = await reader.read(65536)
                except ConnectionError:
                    data = b""
                if data:
                    protocol.receive_data(data)
                else:
                    protocol.receive_eof()
                frames = [e for e in protocol.events_received() if isinstance(e, Frame)]
                for message in connection.messages(frames):
                    queue.put_nowait(message)
                connection.flush()
                if protocol.parser_exc is not None and connection.ending is None:
                    connection.ending = connection.parser_ending()
                if not data or protocol.state.name == "CLOSED" or connection.writer.is_closing():
                    break
                if protocol.close_expected():
                    continue
        finally:
            queue.put_nowait(None)
            ending = connection.ending or ABNORMAL
            await self._finish(connection, ending)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.shield(dispatcher), timeout=self.options.integration_timeout + 1
                )

    async def _dispatch(
        self, connection: ClientConnection, queue: asyncio.Queue[str | None]
    ) -> None:
        while (message := await queue.get()) is not None:
            if connection.state is not State.OPEN:
                continue
            try:
                await self._handle_message(connection, message)
            except Exception:
                log.exception("message handling failed for %s", connection.connection_id)

    async def _handle_message(self, connection: ClientConnection, body: str) -> None:
        route_key = select_route(self.model.route_selection_expression, body, self.model.routes)
        event = message_event(connection.info, route_key or "$default", body)
        request_id = event["requestContext"]["requestId"]
        if route_key is None:
            self._error_frame(connection, "Forbidden", request_id)
            return
        route = self.model.routes[route_key]
        invocation = await self._invoke(route.function, event)
        if invocation.timed_out and not self._time_limit(route.function)[1]:
            self._error_frame(connection, "Endpoint request timed out", request_id)
        elif not invocation.ok:  # an error, or the function's own Timeout
            self._error_frame(connection, "Internal server error", request_id)
        elif route.has_route_response and connection.deliverable:
            reply = _reply_body(invocation.result)
            if reply is not None:
                connection.send(reply.encode("utf-8"))

    def _error_frame(self, connection: ClientConnection, message: str, request_id: str) -> None:
        if connection.deliverable:
            connection.send(
                json_body(
                    {
                        "message": message,
                        "connectionId": connection.connection_id,
                        "requestId": request_id,
                    }
                )
            )

    def _time_limit(self, function: str) -> tuple[float, bool]:
        return time_limit(self.pools[function].model, self.options.integration_timeout)

    async def _invoke(self, function: str, event: dict[str, Any]) -> Invocation:
        request_id = event["requestContext"]["requestId"]
        limit, _ = self._time_limit(function)
        invocation = await self.pools[function].invoke(event, request_id, limit)
        log.debug(
            "%s %s -> %s in %.1f ms",
            event["requestContext"]["routeKey"],
            function,
            "ok" if invocation.ok else ("timeout" if invocation.timed_out else "error"),
            invocation.duration_ms,
        )
        if invocation.timed_out:
            log.warning(
                "%s timed out after %g s on %s",
                function,
                limit,
                event["requestContext"]["routeKey"],
            )
        if invocation.error:
            log.warning(
                "%s failed: %s: %s",
                function,
                invocation.error.get("errorType"),
                invocation.error.get("errorMessage"),
            )
        return invocation

    # ------------------------------------------------------------------- ending

    def _vanish(self, connection: ClientConnection) -> None:
        """Lose the client without a `$disconnect` (an injected fault): the TCP connection
        is reset and the gateway forgets it, as AWS does when a client vanishes and the
        `$disconnect` never arrives."""
        connection.state = State.CLOSED
        connection.ending = connection.ending or ABNORMAL
        self.connections.pop(connection.connection_id, None)
        with contextlib.suppress(Exception):
            connection.writer.transport.abort()

    def _close_from_server(self, connection: ClientConnection, ending: Ending) -> None:
        connection.close(ending)
        self._spawn(self._finish(connection, ending))

    async def _finish(self, connection: ClientConnection, ending: Ending) -> None:
        """Forget the connection and run `$disconnect` for it, exactly once."""
        if connection.state is State.CLOSED:
            return
        was_open = connection.state is State.OPEN or connection.connection_id in self.connections
        connection.state = State.CLOSED
        connection.ending = connection.ending or ending
        self.connections.pop(connection.connection_id, None)
        with contextlib.suppress(Exception):
            connection.writer.close()
        route = self.model.routes.get("$disconnect")
        if route is None or not was_open:
            return
        if self.faults is not None and self.faults.chosen(
            self.faults.plan.skip_disconnect, connection.connection_id
        ):
            self.faults.note("gateway.skip_disconnect", connection.connection_id)
            return
        final = connection.ending
        await self._invoke(
            route.function, disconnect_event(connection.info, final.code, final.reason)
        )


def rejection(status: int, text: str) -> Response:
    """An HTTP answer refusing a handshake, for any status `$connect` may return (even 499)."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    body = text.encode("utf-8")
    headers = Headers(
        [
            ("Date", formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
    )
    return Response(status, reason, headers, body)


def _reply_body(result: Any) -> str | None:
    """The route response's text: a proxy result's `body`, or the result itself. What is
    not a string is sent as the JSON the function returned, never as Python's repr."""
    body = result.get("body") if isinstance(result, dict) else result
    if body is None or isinstance(body, str):
        return body
    return json.dumps(body, ensure_ascii=False)  # as the Lambda runtime serialises it
