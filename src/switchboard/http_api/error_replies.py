"""Every error the HTTP API answers, as `{"error": <name>, "message": <sentence>}` JSON.

Switchboard's own client errors map to statuses here (the WebSocket protocol answers the
same errors with its own codes); FastAPI's validation errors become 422 with `details`;
Starlette's (unknown path, wrong method) keep their status; anything else is logged and
answered 500 without its details.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from switchboard.errors import (
    ClientError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
)
from switchboard.http_api.schemas import ErrorBody

log = logging.getLogger("switchboard.http_api")

#: The `error` field of each status the API answers with.
ERROR_NAMES: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
    422: "ValidationError",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}
_DESCRIPTIONS: dict[int, str] = {
    401: "No bearer token, or one that is forged, expired or not for this stack.",
    403: 'The token is valid but lacks the "service" role.',
    404: "The user has no connection.",
    413: "The message would exceed what one @connections POST may carry (128 KB).",
    422: "A path parameter, query parameter or the body is not valid.",
    503: "Something it depends on does not answer: the table (`GET /health`), or the token "
    "issuer's signing keys (JWKS stacks; retry after `Retry-After` seconds).",
}
#: A Switchboard error's HTTP status; every other ClientError is invalid input, 422.
_STATUS: tuple[tuple[type[ClientError], int], ...] = (
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (PayloadTooLarge, 413),
)


def error_response(
    status: int,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": ERROR_NAMES.get(status, f"Status{status}"), "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, so the spec lists every answer."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }


def status_of(error: ClientError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 422


async def _client_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ClientError)
    status = status_of(error)
    headers = None
    if isinstance(error, NotAuthenticated):
        # RFC 6750: say which scheme, and whether the token presented was the problem.
        headers = {"WWW-Authenticate": error.challenge}
    # Every 422 carries `details`, as FastAPI's own do: a client reads one shape. Our checks
    # name the field in the message, so the problem has no finer location than the request.
    details = [{"loc": [], "msg": str(error), "type": "value_error"}] if status == 422 else None
    return error_response(status, str(error), details=details, headers=headers)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [
        {
            "loc": [str(part) for part in problem.get("loc", ())],
            "msg": str(problem.get("msg", "")),
            "type": str(problem.get("type", "")),
        }
        for problem in error.errors()
    ]
    summary = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and not _is_json(media_type):
        # FastAPI reads a body as JSON only when it says so; anything else is seen as a
        # string, and "should be a valid dictionary" alone does not tell the caller why.
        summary = (
            f"body: send it as JSON, with Content-Type: application/json "
            f"(got {media_type or 'none'}); {summary}"
        )
    return error_response(422, f"invalid request: {summary}", details=details)


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    if error.status_code == 400:
        # FastAPI's answer to a body it cannot decode (not UTF-8, nested past the parser's
        # limit): invalid input, like every other, so 422 in the same shape.
        return error_response(
            422,
            "invalid request: body: not a JSON document this API can read",
            details=[{"loc": ["body"], "msg": str(error.detail), "type": "body_unreadable"}],
        )
    messages = {
        404: f"no such endpoint: {request.url.path} (see /docs)",
        405: f"{request.method} is not allowed on {request.url.path}",
    }
    message = messages.get(error.status_code, str(error.detail))
    return error_response(error.status_code, message, headers=error.headers)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("request failed", extra={"method": request.method, "path": request.url.path})
    # This answer is sent by Starlette's outermost middleware, around RequestLog, which adds
    # nosniff to every other answer.
    return error_response(
        500, "internal server error", headers={"X-Content-Type-Options": "nosniff"}
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ClientError, _client_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
