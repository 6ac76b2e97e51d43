"""What the HTTP API takes and answers, as pydantic models: they make `/openapi.json` exact.

Field names are the wire names of the WebSocket protocol (`userId`, `connectionId`), so a
message looks the same whichever API it came through.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from switchboard.errors import BadRequest
from switchboard.protocol import check_parsed


class MessageIn(BaseModel):
    """A message to deliver: `data` is any JSON value, `null` included."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"data": {"text": "deploy finished", "build": 42}}]},
    )

    data: JsonValue = Field(description="Any JSON value; delivered to clients exactly as sent.")

    @model_validator(mode="before")
    @classmethod
    def _as_websocket_messages_are(cls, value: Any) -> Any:
        # The rules parse_body applies to WebSocket frames; FastAPI's parser is more lenient.
        # Anything but an object (a body that was not JSON, say) is pydantic's to refuse.
        if isinstance(value, dict):
            try:
                check_parsed(value)
            except BadRequest as error:
                raise ValueError(str(error)) from None
        return value


class SentToRoom(BaseModel):
    """The fan-out's counts: delivered, pruned (stale connections deleted), failed."""

    id: str = Field(description="The message id clients receive.")
    room: str
    ts: int = Field(description="Milliseconds since the epoch.")
    delivered: int = Field(ge=0)
    pruned: int = Field(ge=0, description="Members whose connection was gone (410): deleted.")
    failed: int = Field(ge=0, description="Members that could not be reached for another reason.")
    stored: bool = Field(description="Whether the message was kept in the room's history.")


class SentToUser(BaseModel):
    id: str
    to: str = Field(description="The userId the message went to.")
    ts: int = Field(description="Milliseconds since the epoch.")
    delivered: int = Field(ge=0)
    pruned: int = Field(ge=0)
    failed: int = Field(ge=0)


class RoomList(BaseModel):
    rooms: list[str] = Field(description="Every room with at least one member now, by name.")


class Member(BaseModel):
    name: str
    userId: str
    connections: int = Field(ge=1, description="How many of the user's connections are in it.")


class MemberList(BaseModel):
    room: str
    members: list[Member]


class Sender(BaseModel):
    """Who sent a message: a connection (with `guest` for guests), or a backend service."""

    connectionId: str | None = None
    name: str
    userId: str | None = None
    guest: bool | None = None
    service: bool | None = None


class RoomMessage(BaseModel):
    """A stored room message, exactly as members received it."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["message"]
    room: str
    sender: Sender = Field(alias="from")
    data: JsonValue
    id: str
    ts: int


class HistoryPage(BaseModel):
    room: str
    messages: list[RoomMessage] = Field(description="Oldest first.")
    next: str | None = Field(
        description="Pass as `before` for the page before this one; null at the beginning."
    )


class Health(BaseModel):
    status: Literal["ok"]


class ErrorBody(BaseModel):
    """Every error: a name, a sentence saying what went wrong, and for 422 the details."""

    error: str = Field(examples=["Unauthorized", "Forbidden", "NotFound", "ValidationError"])
    message: str
    details: list[dict[str, Any]] | None = Field(
        default=None, description="For ValidationError: each problem, with where it is."
    )
