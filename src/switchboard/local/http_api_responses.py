"""HTTP responses from Lambda results, as HTTP APIs turn payload 2.0 answers into them.

A result with a `statusCode` is a structured response: `headers`, `cookies` (each one a
`Set-Cookie`), `body` and `isBase64Encoded`; 2.0 has no `multiValueHeaders`, so they are
ignored. Any other valid JSON result is the body of a `200` with `content-type:
application/json`: a string as it is, anything else as JSON text. A result API Gateway
cannot use is its `500 {"message":"Internal Server Error"}`; so is a function error.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from switchboard.local.http11 import json_body

#: Headers the server writes itself: a function's own would contradict the framing.
_FRAMING = frozenset({"content-length", "connection", "transfer-encoding", "date"})


class InvalidLambdaResponse(ValueError):
    """The function answered something API Gateway cannot turn into an HTTP response."""


@dataclass(frozen=True)
class HttpApiResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


def gateway_error(status: int, message: str) -> HttpApiResponse:
    """One of API Gateway's own answers, such as `404 {"message":"Not Found"}`."""
    return HttpApiResponse(
        status, json_body({"message": message}), [("content-type", "application/json")]
    )


NOT_FOUND = gateway_error(404, "Not Found")
INTERNAL_SERVER_ERROR = gateway_error(500, "Internal Server Error")
SERVICE_UNAVAILABLE = gateway_error(503, "Service Unavailable")
REQUEST_TOO_LARGE = gateway_error(413, "Request Entity Too Large")


def from_lambda_result(result: Any) -> HttpApiResponse:
    """The HTTP response for a function's result; raises InvalidLambdaResponse."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpApiResponse(200, body.encode("utf-8"), [("content-type", "application/json")])
    status = _status(result["statusCode"])
    headers = [
        (name, value)
        for name, value in _headers(result.get("headers"))
        if name.lower() not in _FRAMING
    ]
    headers += [("set-cookie", cookie) for cookie in _cookies(result.get("cookies"))]
    return HttpApiResponse(status, _body(result), headers)


def _status(value: Any) -> int:
    # bool is an int in Python, and not a status anywhere else.
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidLambdaResponse(f"statusCode must be an integer, got {value!r}")
    try:
        status = int(value)
    except ValueError:
        raise InvalidLambdaResponse(f"statusCode must be an integer, got {value!r}") from None
    if not 100 <= status <= 599:
        raise InvalidLambdaResponse(f"statusCode {status} is not an HTTP status")
    return status


def _checked(text: str, what: str) -> str:
    # A line break would let a response smuggle headers or a second response.
    if "\r" in text or "\n" in text:
        raise InvalidLambdaResponse(f"{what} contains a line break")
    return text


def _scalar(value: Any, what: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return _checked(str(value), what)
    raise InvalidLambdaResponse(f"{what} must be a string, got {type(value).__name__}")


def _headers(value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise InvalidLambdaResponse("headers must be an object of names to values")
    headers = []
    for name, header_value in value.items():
        if not name or ":" in name or " " in name:
            raise InvalidLambdaResponse(f"{name!r} is not a header name")
        headers.append((_checked(name, "a header name"), _scalar(header_value, f"header {name}")))
    return headers


def _cookies(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidLambdaResponse("cookies must be a list of strings")
    return [_scalar(cookie, "a cookie") for cookie in value]


def _body(result: dict[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    text = body if isinstance(body, str) else json.dumps(body)
    if result.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidLambdaResponse("isBase64Encoded is true but body is not base64") from None
    return text.encode("utf-8")
