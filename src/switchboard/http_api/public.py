"""What anyone may call without a token: the chat page and the health check.

(`/openapi.json` and `/docs` are FastAPI's own, and public too.)
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse

from switchboard.http_api.error_replies import documented, error_response
from switchboard.http_api.page import page_response
from switchboard.http_api.parameters import CurrentRuntime, Settings
from switchboard.http_api.schemas import Health

log = logging.getLogger("switchboard.http_api")
router = APIRouter()


@router.get(
    "/",
    response_class=HTMLResponse,
    summary="The chat page",
    tags=["page"],
    responses={200: {"content": {"text/html": {}}, "description": "The chat page."}},
)
def chat_page(http: Settings) -> HTMLResponse:
    return page_response(http)


@router.get(
    "/health",
    response_model=Health,
    responses=documented(503),
    summary="Whether the table answers",
    tags=["health"],
)
def health(rt: CurrentRuntime) -> Health | JSONResponse:
    try:
        rt.store.ping()
    except Exception:
        # The reason goes to the log; callers (anyone) learn only that it is down.
        log.exception("health check: the table does not answer")
        return error_response(503, "the table does not answer")
    return Health(status="ok")
