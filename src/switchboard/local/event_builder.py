"""Lambda proxy events built as API Gateway builds them for WebSocket APIs.

Shapes follow the service's captured events: every `requestContext` field, AWS-like ids,
`requestTime` in `dd/Mon/yyyy:HH:MM:SS +0000`, epochs in milliseconds, headers and query
strings on CONNECT only (query strings only when sent), and the disconnect status on
DISCONNECT.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from switchboard.local.template_intrinsics import ACCOUNT_ID, REGION


def aws_id() -> str:
    """A 16-character id shaped like API Gateway's connection and request ids."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def request_time(epoch_ms: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


@dataclass
class ConnectionInfo:
    """What API Gateway knows about a connection, from its handshake on."""

    connection_id: str
    api_id: str
    stage: str
    domain_name: str
    source_ip: str
    user_agent: str | None
    connected_at: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    authorizer: dict[str, Any] | None = None

    def request_context(self, route_key: str, event_type: str) -> dict[str, Any]:
        now = int(time.time() * 1000)
        request_id = aws_id()
        identity: dict[str, Any] = {"sourceIp": self.source_ip}
        if self.user_agent is not None:
            identity["userAgent"] = self.user_agent
        context: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at,
            "requestTimeEpoch": now,
            "identity": identity,
            "requestId": request_id,
            "domainName": self.domain_name,
            "connectionId": self.connection_id,
            "apiId": self.api_id,
        }
        if self.authorizer is not None:
            context["authorizer"] = dict(self.authorizer)
        return context

    def method_arn(self, route_key: str) -> str:
        return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{self.api_id}/{self.stage}/{route_key}"


def _single_and_multi(
    pairs: Sequence[tuple[str, str]],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def connect_event(info: ConnectionInfo) -> dict[str, Any]:
    headers, multi_headers = _single_and_multi(info.headers)
    event: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi_headers}
    if info.query:
        query, multi_query = _single_and_multi(info.query)
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = multi_query
    event["requestContext"] = info.request_context("$connect", "CONNECT")
    event["isBase64Encoded"] = False
    return event


def authorizer_event(info: ConnectionInfo) -> dict[str, Any]:
    event = connect_event(info)
    event.pop("isBase64Encoded")
    event["requestContext"].pop("authorizer", None)
    return {
        "type": "REQUEST",
        "methodArn": info.method_arn("$connect"),
        **event,
        "stageVariables": {},
    }


def message_event(info: ConnectionInfo, route_key: str, body: str) -> dict[str, Any]:
    context = info.request_context(route_key, "MESSAGE")
    context["messageId"] = aws_id()
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(info: ConnectionInfo, status_code: int, reason: str) -> dict[str, Any]:
    host = info.domain_name
    headers = {"Host": host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = info.request_context("$disconnect", "DISCONNECT")
    context["disconnectStatusCode"] = status_code
    context["disconnectReason"] = reason
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }
