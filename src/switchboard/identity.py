"""Who is on a connection: what the authorizer proved, carried on every later event.

API Gateway passes the authorizer's `context` to every event of the connection as
`requestContext.authorizer`, and only flat string, number and boolean values survive, so
the private rooms travel as one comma-separated string (room names cannot hold commas).
Handlers trust this context and ignore identity fields that clients send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Rooms whose names start with this are private: only tokens that list them may enter.
PRIVATE_ROOM_PREFIX = "private:"
GUEST_PREFIX = "guest:"


def is_private(room: str) -> bool:
    return room.startswith(PRIVATE_ROOM_PREFIX)


@dataclass(frozen=True)
class Identity:
    """An authenticated user, or an anonymous guest (when the stack allows them)."""

    user_id: str | None
    name: str | None
    rooms: frozenset[str] = frozenset()
    anonymous: bool = True

    def may_enter(self, room: str) -> bool:
        return not is_private(room) or (not self.anonymous and room in self.rooms)

    def to_context(self) -> dict[str, str]:
        return {
            "userId": self.user_id or "",
            "name": self.name or "",
            "rooms": ",".join(sorted(self.rooms)),
            "anonymous": "true" if self.anonymous else "false",
        }

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Identity:
        """The identity in `requestContext.authorizer`; anonymous when there is none."""
        if not context or str(context.get("anonymous", "true")).lower() != "false":
            return cls(user_id=None, name=None)
        rooms = str(context.get("rooms") or "")
        return cls(
            user_id=str(context.get("userId") or context.get("principalId") or "") or None,
            name=str(context.get("name") or "") or None,
            rooms=frozenset(r for r in rooms.split(",") if r),
            anonymous=False,
        )
