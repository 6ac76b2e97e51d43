"""A read-only, typed view of the API Gateway WebSocket proxy event.

Modelled on Powertools' `APIGatewayWebSocketEvent`: one property per field, required fields
indexed, optional ones `.get()`-ed. Handlers never index `event["requestContext"]` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class WebSocketEvent:
    """The event API Gateway hands a Lambda proxy integration of a WebSocket route."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw
        self._ctx: Mapping[str, Any] = raw.get("requestContext") or {}

    @property
    def raw(self) -> Mapping[str, Any]:
        return self._raw

    @property
    def route_key(self) -> str:
        return str(self._ctx["routeKey"])

    def get_route_key(self) -> str | None:
        """The route key, or None on a malformed event (for logging before validation)."""
        value = self._ctx.get("routeKey")
        return str(value) if value is not None else None

    def get_connection_id(self) -> str | None:
        value = self._ctx.get("connectionId")
        return str(value) if value is not None else None

    @property
    def event_type(self) -> str:
        return str(self._ctx["eventType"])

    @property
    def connection_id(self) -> str:
        return str(self._ctx["connectionId"])

    @property
    def request_id(self) -> str:
        return str(self._ctx.get("requestId", ""))

    @property
    def domain_name(self) -> str:
        return str(self._ctx.get("domainName", ""))

    @property
    def stage(self) -> str:
        return str(self._ctx.get("stage", ""))

    @property
    def connected_at(self) -> int:
        """Milliseconds since the epoch, as API Gateway sends it."""
        return int(self._ctx.get("connectedAt") or self._ctx.get("requestTimeEpoch") or 0)

    @property
    def request_time_epoch(self) -> int:
        """Milliseconds since the epoch."""
        return int(self._ctx.get("requestTimeEpoch") or 0)

    @property
    def source_ip(self) -> str | None:
        identity = self._ctx.get("identity") or {}
        value = identity.get("sourceIp")
        return str(value) if value is not None else None

    @property
    def user_agent(self) -> str | None:
        identity = self._ctx.get("identity") or {}
        value = identity.get("userAgent")
        return str(value) if value is not None else None

    @property
    def authorizer(self) -> Mapping[str, Any]:
        """The authorizer's context (and principalId); empty when none is configured."""
        value = self._ctx.get("authorizer")
        return value if isinstance(value, Mapping) else {}

    @property
    def query_string_parameters(self) -> Mapping[str, str]:
        return self._raw.get("queryStringParameters") or {}

    @property
    def headers(self) -> Mapping[str, str]:
        return self._raw.get("headers") or {}

    @property
    def body(self) -> str | None:
        value = self._raw.get("body")
        return value if isinstance(value, str) else None

    @property
    def is_base64_encoded(self) -> bool:
        return bool(self._raw.get("isBase64Encoded", False))

    @property
    def disconnect_status_code(self) -> int | None:
        value = self._ctx.get("disconnectStatusCode")
        return int(value) if value is not None else None

    @property
    def disconnect_reason(self) -> str | None:
        value = self._ctx.get("disconnectReason")
        return str(value) if value is not None else None

    def management_endpoint(self) -> str:
        """`https://{domainName}/{stage}`: where the `@connections` API lives in AWS."""
        return f"https://{self.domain_name}/{self.stage}"
