"""moto's `@connections` backend: what each connection received, and answers moto never gives.

moto appends every POST's bytes to one buffer per connection, keyed by the URL-encoded id
(`=` becomes `%3D`); `received` splits that buffer back into JSON messages. moto accepts any
id and never answers 410 or 429, so `ManagementFaults` patches its backend to do so.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

from moto.apigatewaymanagementapi.models import (
    ApiGatewayManagementApiBackend,
    apigatewaymanagementapi_backends,
)
from moto.core.exceptions import JsonRESTError
from moto.core.models import DEFAULT_ACCOUNT_ID

REGION = "us-east-1"


def _backend() -> ApiGatewayManagementApiBackend:
    backend: ApiGatewayManagementApiBackend = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][
        REGION
    ]
    return backend


def split_messages(data: bytes) -> list[Any]:
    """Concatenated JSON documents, one per POST, back as a list."""
    text, decoder, messages, position = data.decode("utf-8"), json.JSONDecoder(), [], 0
    while position < len(text):
        message, position = decoder.raw_decode(text, position)
        messages.append(message)
    return messages


def received(connection_id: str) -> list[Any]:
    """Every message posted to the connection, in order."""
    connection = _backend().connections.get(quote(connection_id, safe=""))
    return split_messages(connection.data) if connection is not None else []


def recipients() -> set[str]:
    """The ids anything was posted to."""
    return {unquote(cid) for cid, conn in _backend().connections.items() if conn.data}


def clear() -> None:
    """Forget what was delivered so far, so the next assertion sees one step only."""
    _backend().connections.clear()


class ManagementError(JsonRESTError):
    """An error answer of the management API, as the real service sends it."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(error_type, message)
        self.code = status


def gone(connection_id: str) -> ManagementError:
    return ManagementError(410, "GoneException", f"connection {connection_id} is gone")


def throttled(connection_id: str) -> ManagementError:
    return ManagementError(429, "LimitExceededException", "Rate exceeded")


def forbidden(connection_id: str) -> ManagementError:
    return ManagementError(403, "ForbiddenException", "Forbidden")


def internal_error(connection_id: str) -> ManagementError:
    return ManagementError(500, "InternalServerErrorException", "Internal server error")


Fault = Callable[[str], ManagementError]


class ManagementFaults:
    """Per-connection errors for moto's `post_to_connection`; everything else is delivered."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self._faults: dict[str, tuple[Fault, int | None]] = {}
        self._lock = threading.Lock()
        self._deliver = ApiGatewayManagementApiBackend.post_to_connection

    def fail(self, connection_id: str, fault: Fault, times: int | None = None) -> None:
        """Answer the connection's next `times` POSTs (None: all of them) with `fault`."""
        self._faults[connection_id] = (fault, times)

    def post_to_connection(self) -> Callable[[ApiGatewayManagementApiBackend, bytes, str], None]:
        """A stand-in for the backend method that consults the faults first."""

        def post_to_connection(
            backend: ApiGatewayManagementApiBackend, data: bytes, connection_id: str
        ) -> None:
            connection = unquote(connection_id)
            with self._lock:
                self.attempts[connection] += 1
                attempt = self.attempts[connection]
            fault, times = self._faults.get(connection, (None, None))
            if fault is not None and (times is None or attempt <= times):
                raise fault(connection)
            self._deliver(backend, data, connection_id)

        return post_to_connection
