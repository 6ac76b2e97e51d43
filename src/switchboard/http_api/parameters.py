"""Path parameters and dependencies the endpoints share.

Room names are checked against the protocol's own pattern, so `/openapi.json` states the
rule the WebSocket actions enforce; user ids with the protocol's own check of `to`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from switchboard import runtime
from switchboard.errors import BadRequest, ConfigError
from switchboard.http_api.settings import HttpSettings
from switchboard.protocol import ROOM_PATTERN, USER_ID_MAX, user_field

RoomName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        # Anchored: pydantic looks for the pattern anywhere in the value.
        pattern=f"^{ROOM_PATTERN.pattern}$",
        description='1-64 characters of letters, digits, "_", ".", ":" or "-".',
        examples=["lobby", "private:ops"],
    ),
]
UserIdPath = Annotated[
    str,
    Path(
        alias="userId",
        min_length=1,
        max_length=USER_ID_MAX,
        description="The user's id: the `sub` of the token they connected with.",
        examples=["u-42"],
    ),
]


def user_id(user: UserIdPath) -> str:
    try:
        return user_field({"to": user})
    except BadRequest:
        raise BadRequest(f"userId must be 1-{USER_ID_MAX} printable characters") from None


UserId = Annotated[str, Depends(user_id)]


def current_runtime() -> runtime.Runtime:
    return runtime.current()


CurrentRuntime = Annotated[runtime.Runtime, Depends(current_runtime)]


def settings(request: Request) -> HttpSettings:
    found: HttpSettings = request.app.state.settings
    return found


Settings = Annotated[HttpSettings, Depends(settings)]


def management_endpoint(rt: CurrentRuntime, http: Settings) -> str:
    """The WebSocket API's `@connections` endpoint: MANAGEMENT_ENDPOINT, else from WEBSOCKET_URL.

    Unlike a WebSocket event, an HTTP request says nothing about the WebSocket API, so one
    of the two must be configured (template.yaml sets both).
    """
    endpoint = rt.config.management_endpoint or http.management_endpoint
    if endpoint is None:
        raise ConfigError(
            "set MANAGEMENT_ENDPOINT or WEBSOCKET_URL: the HTTP API needs the WebSocket API's "
            "@connections endpoint to deliver"
        )
    return endpoint


ManagementEndpoint = Annotated[str, Depends(management_endpoint)]
