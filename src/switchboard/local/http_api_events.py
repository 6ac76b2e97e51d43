"""Lambda events as API Gateway builds them for HTTP APIs: payload format version 2.0.

Shapes follow the documented format and captured events: header names lower-cased and
repeated headers joined with commas, the `cookie` header moved into a `cookies` list,
repeated query parameters joined with commas, `queryStringParameters`, `pathParameters`,
`cookies` and `body` absent when empty, `rawPath` and `http.path` URL-decoded (as HTTP APIs
deliver them), `x-forwarded-*` and `x-amzn-trace-id` added. A body is passed as text only
for textual content types (`text/*`, `application/json`, `application/xml`,
`application/javascript`); anything else, a missing content type included, arrives
base64-encoded with `isBase64Encoded: true`, as HTTP APIs do it.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from switchboard.local.event_builder import aws_id, request_time
from switchboard.local.template_intrinsics import ACCOUNT_ID, LOCAL_HTTP_API_ID

#: Content types whose bodies HTTP APIs hand to Lambda as text; every other one is base64.
TEXT_MEDIA_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})
#: Hop-by-hop headers (RFC 9110 section 7.6.1): they describe the client's connection to
#: the API, not the request, so a proxy does not pass them on. The body is whole by then,
#: so its length is what `content-length` says.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}
)


@dataclass(frozen=True)
class HttpApiRequest:
    """What the event is built from: one request as the HTTP API received it."""

    method: str
    path: str
    raw_query_string: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    protocol: str
    source_ip: str
    server_port: int


def is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in TEXT_MEDIA_TYPES


def encoded_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """The event's `body` and `isBase64Encoded` for these bytes."""
    if is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # Not text after all: base64 keeps every byte.
    return base64.b64encode(body).decode("ascii"), True


def joined_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; a repeated header's values joined with commas, in order."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def request_cookies(headers: Sequence[tuple[str, str]]) -> list[str]:
    """Every cookie of every `cookie` header, one `name=value` each."""
    cookies: list[str] = []
    for name, value in headers:
        if name.lower() == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
    return cookies


def query_parameters(raw_query_string: str) -> dict[str, str]:
    """Decoded query parameters; a repeated one's values joined with commas."""
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query_string, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def trace_id(epoch_seconds: int) -> str:
    """An X-Ray trace header as API Gateway adds it: `Root=1-{time hex}-{24 hex}`."""
    return f"Root=1-{epoch_seconds:08x}-{os.urandom(12).hex()}"


def http_api_event(
    request: HttpApiRequest,
    *,
    route_key: str,
    path_parameters: dict[str, str],
    stage: str,
) -> dict[str, Any]:
    """The payload 2.0 event of one request to one route."""
    now_ms = int(time.time() * 1000)
    forwarded = [(name, value) for name, value in request.headers if name.lower() != "cookie"]
    headers = {
        name: value for name, value in joined_headers(forwarded).items() if name not in _HOP_BY_HOP
    }
    host = headers.get("host", f"127.0.0.1:{request.server_port}")
    client_chain = headers.get("x-forwarded-for")
    headers.update(
        {
            "content-length": str(len(request.body)),
            "host": host,
            "x-amzn-trace-id": trace_id(now_ms // 1000),
            # API Gateway appends the client's address to any chain the client sent.
            "x-forwarded-for": (
                f"{client_chain}, {request.source_ip}" if client_chain else request.source_ip
            ),
            "x-forwarded-port": str(request.server_port),
            "x-forwarded-proto": "http",
        }
    )
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query_string,
    }
    cookies = request_cookies(request.headers)
    if cookies:
        event["cookies"] = cookies
    event["headers"] = dict(sorted(headers.items()))
    query = query_parameters(request.raw_query_string)
    if query:
        event["queryStringParameters"] = query
    request_id = aws_id()
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": LOCAL_HTTP_API_ID,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": request_time(now_ms),
        "timeEpoch": now_ms,
    }
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if request.body:
        event["body"], event["isBase64Encoded"] = encoded_body(
            request.body, headers.get("content-type")
        )
    else:
        event["isBase64Encoded"] = False
    return event
