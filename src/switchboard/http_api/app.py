"""The FastAPI application of the HTTP API.

Endpoints (every one but `/`, `/health`, `/openapi.json` and `/docs` needs a service token):

| method | path | what |
|---|---|---|
| POST | /rooms/{room}/messages | send to every member of a room |
| POST | /users/{userId}/messages | send to every connection of a user |
| GET | /rooms | rooms with members now |
| GET | /rooms/{room}/members | who is in a room |
| GET | /rooms/{room}/history | a page of a room's messages |
| GET | /health | whether the table answers |
| GET | / | the chat page |
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from switchboard.http_api import error_replies, messages, public, rooms
from switchboard.http_api.body_limit import BodyLimit
from switchboard.http_api.request_log import RequestLog
from switchboard.http_api.settings import HttpSettings

DESCRIPTION = """
Push messages into Switchboard's rooms from a backend, and read its rooms, members and
history. Messages go out through the same fan-out as the WebSocket API's `sendmessage` and
`sendto`, and clients receive them the same way, with `"from": {"name", "userId",
"service": true}`.

Authenticate with `Authorization: Bearer <token>`: a JWT of the stack's scheme (the one the
WebSocket API's `$connect` authorizer checks) whose `roles` claim lists `service`. Errors are
`{"error": <name>, "message": <what went wrong>}`, with `details` for 422.
"""


def create_app(settings: HttpSettings | None = None) -> FastAPI:
    app = FastAPI(
        title="Switchboard HTTP API",
        version="1",
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        # operationId = the endpoint's function name (post_to_room, list_rooms...), which
        # generated clients use as method names.
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings if settings is not None else HttpSettings.from_env()
    app.include_router(messages.router)
    app.include_router(rooms.router)
    app.include_router(public.router)
    error_replies.install(app)
    # Added last runs first: the log line covers the 413 of the body limit too.
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestLog)
    return app


def _operation_id(route: APIRoute) -> str:
    return route.name
