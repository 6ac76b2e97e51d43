"""The `@connections` management API, as the service answers it on the wire.

Routes `/@connections/{id}` and `/{stage}/@connections/{id}`. Errors carry their name in the
`x-amzn-errortype` header and a JSON `message`, which is how boto3 and the AWS SDK for
JavaScript map them to `GoneException` and friends. Requests are not SigV4-verified locally.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from switchboard.local.client_connection import MAX_MESSAGE_BYTES, ClientConnection, Ending
from switchboard.local.faults import FaultInjector
from switchboard.local.http11 import BodyTooLarge, HttpRequest, json_body, response_bytes

_PATH = re.compile(r"^(?:/(?P<stage>[^/]+))?/@connections/(?P<id>[^/]+)/?$")
DELETED = Ending(1000, "")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def wire(self, *, keep_alive: bool) -> bytes:
        """The answer as it goes out on the socket."""
        return response_bytes(self.status, self.body, list(self.headers), keep_alive=keep_alive)


#: What the gateway's port answers on a path that is neither the stage nor `@connections`.
NOT_FOUND = HttpAnswer(404, json_body({"message": "Not Found"}))


def error(status: int, error_type: str, message: str) -> HttpAnswer:
    return HttpAnswer(
        status,
        json_body({"message": message}),
        (("x-amzn-errortype", error_type), ("Content-Type", "application/json")),
    )


def too_large() -> HttpAnswer:
    """A POST over the limit, as the service names it (boto3 raises PayloadTooLargeException)."""
    return error(413, "PayloadTooLargeException", "Request entity too large")


def refusal(unreadable: Exception) -> HttpAnswer:
    """The answer to a request that cannot be read: a body over the HTTP limit (10 MB, far
    over 128 KB) is the service's 413; anything else is 400, saying what is wrong."""
    if isinstance(unreadable, BodyTooLarge):
        return too_large()
    return HttpAnswer(400, json_body({"message": str(unreadable)}))


def iso8601(epoch_ms: int) -> str:
    seconds = epoch_ms / 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{epoch_ms % 1000:03d}Z"


def is_management_path(path: str) -> bool:
    return "/@connections/" in path


class ManagementApi:
    """Answers `@connections` requests against the gateway's live connections."""

    def __init__(
        self,
        stage: str,
        lookup: Callable[[str], ClientConnection | None],
        disconnect: Callable[[ClientConnection, Ending], None],
        latency_ms: float = 0.0,
        *,
        faults: FaultInjector | None = None,
        vanish: Callable[[ClientConnection], None] | None = None,
    ) -> None:
        self._stage = stage
        self._lookup = lookup
        self._disconnect = disconnect
        self.latency = latency_ms / 1000
        self._faults = faults
        self._vanish = vanish

    async def handle(self, request: HttpRequest) -> HttpAnswer:
        if self.latency:
            await asyncio.sleep(self.latency)
        return self.answer(request)

    def answer(self, request: HttpRequest) -> HttpAnswer:
        """The answer, at once (`handle` adds the simulated latency)."""
        match = _PATH.match(request.path)
        if match is None or (match.group("stage") not in (None, self._stage)):
            return error(403, "ForbiddenException", "Forbidden")
        connection_id = match.group("id")
        connection = self._lookup(connection_id)
        if request.method == "POST" and len(request.body) > MAX_MESSAGE_BYTES:
            return too_large()
        if self._faults is not None:
            injected = self._injected(connection_id, connection)
            if injected is not None:
                return injected
        if connection is None or not connection.deliverable:
            return error(410, "GoneException", f"Connection {connection_id} is gone")
        if request.method == "POST":
            connection.send(request.body)
            return HttpAnswer(200)
        if request.method == "GET":
            identity = {"sourceIp": connection.info.source_ip}
            if connection.info.user_agent is not None:
                identity["userAgent"] = connection.info.user_agent
            return HttpAnswer(
                200,
                json_body(
                    {
                        "connectedAt": iso8601(connection.info.connected_at),
                        "lastActiveAt": iso8601(connection.last_active_ms),
                        "identity": identity,
                    }
                ),
                (("Content-Type", "application/json"),),
            )
        if request.method == "DELETE":
            self._disconnect(connection, DELETED)
            return HttpAnswer(204)
        return error(403, "ForbiddenException", f"Method {request.method} is not allowed")

    def _injected(
        self, connection_id: str, connection: ClientConnection | None
    ) -> HttpAnswer | None:
        """A 429 for a share of calls; a 410 for a share of clients, which vanish with it."""
        faults = self._faults
        assert faults is not None
        plan = faults.plan
        if faults.draw(plan.connections_throttle):
            faults.note("connections.throttle", f"429 for {connection_id}")
            return error(429, "LimitExceededException", "Rate exceeded")
        if (
            connection is not None
            and connection.deliverable
            and faults.chosen(plan.connections_gone, connection_id)
        ):
            faults.note("connections.gone", f"410 for {connection_id}")
            if self._vanish is not None:
                self._vanish(connection)
            return error(410, "GoneException", f"Connection {connection_id} is gone")
        return None
