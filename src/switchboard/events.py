"""A read-only, typed view of the API Gateway WebSocket proxy event.

Modelled on Powertools' `APIGatewayWebSocketEvent`: one property per field, required fields
indexed, optional ones `.get()`-ed. Handlers never index `event["requestContext"]` directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


class WebSocketEvent:
    """The event API Gateway hands a Lambda proxy integration of a WebSocket route."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw
        context = raw.get("requestContext")
        self._ctx: Mapping[str, Any] = context if isinstance(context, Mapping) else {}

    @property
    def raw(self) -> Mapping[str, Any]:
        return self._raw

    @property
    def route_key(self) -> str:
        return str(self._ctx["routeKey"])

    def get_route_key(self) -> str | None:
        """The route key, or None on a malformed event (for logging before validation)."""
        return _loggable(self._ctx.get("routeKey"))

    def get_connection_id(self) -> str | None:
        return _loggable(self._ctx.get("connectionId"))

    @property
    def event_type(self) -> str:
        return str(self._ctx["eventType"])

    @property
    def connection_id(self) -> str:
        return str(self._ctx["connectionId"])

    @property
    def request_id(self) -> str:
        return _loggable(self._ctx.get("requestId")) or ""

    @property
    def domain_name(self) -> str:
        return str(self._ctx.get("domainName", ""))

    @property
    def stage(self) -> str:
        return str(self._ctx.get("stage", ""))

    @property
    def connected_at(self) -> int:
        """Milliseconds since the epoch, as API Gateway sends it."""
        return _whole(self._ctx.get("connectedAt")) or self.request_time_epoch

    @property
    def request_time_epoch(self) -> int:
        """Milliseconds since the epoch."""
        return _whole(self._ctx.get("requestTimeEpoch")) or 0

    @property
    def source_ip(self) -> str | None:
        value = self._identity.get("sourceIp")
        return str(value) if value is not None else None

    @property
    def user_agent(self) -> str | None:
        value = self._identity.get("userAgent")
        return str(value) if value is not None else None

    @property
    def _identity(self) -> Mapping[str, Any]:
        value = self._ctx.get("identity")
        return value if isinstance(value, Mapping) else {}

    @property
    def authorizer(self) -> Mapping[str, Any]:
        """The authorizer's context (and principalId); empty when none is configured."""
        value = self._ctx.get("authorizer")
        return value if isinstance(value, Mapping) else {}

    @property
    def query_string_parameters(self) -> Mapping[str, str]:
        return _strings(self._raw.get("queryStringParameters"))

    @property
    def headers(self) -> Mapping[str, str]:
        return _strings(self._raw.get("headers"))

    @property
    def body(self) -> str | None:
        value = self._raw.get("body")
        return value if isinstance(value, str) else None

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self._raw.get("isBase64Encoded", False))

    @property
    def disconnect_status_code(self) -> int | None:
        return _whole(self._ctx.get("disconnectStatusCode"))

    @property
    def disconnect_reason(self) -> str | None:
        value = self._ctx.get("disconnectReason")
        return str(value) if value is not None else None

    def management_endpoint(self) -> str:
        """`https://{domainName}/{stage}`: where the `@connections` API lives in AWS."""
        return f"https://{self.domain_name}/{self.stage}"

    def problem(self) -> str | None:
        """Why this is not an event API Gateway sends to a WebSocket route; None when it is.

        API Gateway always sends these fields with these types, so only a misconfigured
        integration or a hand-written event fails here; the handlers answer it with a clear
        error instead of a traceback from deep inside.
        """
        if not isinstance(self._raw.get("requestContext"), Mapping):
            return "requestContext must be an object"
        route = self._ctx.get("routeKey")
        if not isinstance(route, str) or not route:
            return "requestContext.routeKey must be a non-empty string"
        connection = self._ctx.get("connectionId")
        if not isinstance(connection, str) or not _CONNECTION_ID.fullmatch(connection):
            return f"requestContext.connectionId must be 1-{MAX_CONNECTION_ID} printable ASCII"
        for name in ("connectedAt", "requestTimeEpoch"):
            value = self._ctx.get(name)
            if value is not None and _whole(value) is None:
                return f"requestContext.{name} must be a whole number of milliseconds"
        for name in ("queryStringParameters", "headers"):
            value = self._raw.get(name)
            if value is not None and not _is_string_map(value):
                return f"{name} must map strings to strings"
        for name in ("identity", "authorizer"):
            value = self._ctx.get(name)
            if value is not None and not isinstance(value, Mapping):
                return f"requestContext.{name} must be an object"
        body = self._raw.get("body")
        if body is not None and not isinstance(body, str):
            return "body must be a string"
        return None


#: API Gateway's connection ids are 16 characters of base64; room is left for other gateways,
#: but not for ids too long to be part of a DynamoDB key.
MAX_CONNECTION_ID = 128
_CONNECTION_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_CONNECTION_ID}}}")


def _loggable(value: Any) -> str | None:
    # Cut short: a malformed event could carry anything here, a message body included.
    return value[:MAX_CONNECTION_ID] if isinstance(value, str) else None


def _whole(value: Any) -> int | None:
    """An integer field (epochs, status codes); None when absent or not a whole number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def _is_string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _strings(value: Any) -> Mapping[str, str]:
    """A query string or header map; only its string entries (API Gateway sends no others)."""
    if not isinstance(value, Mapping):
        return {}
    if _is_string_map(value):
        return value
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
