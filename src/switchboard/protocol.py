"""The client protocol: what clients may send, how it is validated, and what they receive.

Every frame is a JSON object. Validation happens here, at the boundary, so that the store
and the fan-out only ever see well-formed room names, display names and payloads.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any, TypeGuard

from switchboard.errors import BadRequest, ClientError, InvalidJson, PayloadTooLarge

#: The custom routes the chat function serves (besides `$default`).
ACTIONS: tuple[str, ...] = (
    "sendmessage",
    "join",
    "leave",
    "sendto",
    "rooms",
    "members",
    "history",
)
DEFAULT_ROOM = "lobby"
ROOM_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
NAME_MAX = 32
#: A user id is a token's `sub` (tokens.py refuses longer ones), so the `to` of a direct
#: message and the HTTP API's `{userId}` take the same length; a guest's id, "guest:" and a
#: 16-character connection id, fits too.
USER_ID_MAX = 128
#: What `@connections` accepts in one POST; a message we cannot deliver is refused up front.
MAX_POST_BYTES = 128 * 1024
#: A room message is also kept in history, and a history page or a join's reply (one
#: WebSocket message, 128 KB) must be able to carry it with its envelope (under 1 KB).
MAX_ROOM_MESSAGE_BYTES = MAX_POST_BYTES - 1024
#: A connection may belong to at most this many rooms, so that removing it is one transaction.
MAX_ROOMS_PER_CONNECTION = 50
#: Levels of arrays and objects a message may nest, itself included. Python's json recurses
#: once per level: a message that parses close to the interpreter's limit (~1,000) could not
#: be encoded again inside its envelope, and would poison the room's history for every reader.
MAX_NESTING = 64
_TOO_DEEP = f"the message is nested too deeply: at most {MAX_NESTING} levels of arrays and objects"


def parse_body(body: str | None) -> dict[str, Any]:
    """The message as a JSON object, or the error the `$default` route answers with."""
    if body is None or body == "":
        raise InvalidJson(
            "the message body is empty: send a JSON object such as "
            '{"action": "sendmessage", "data": "hello"}'
        )
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise BadRequest(_TOO_DEEP) from None
    except _Overflow as error:
        raise BadRequest(str(error)) from None
    except ValueError:
        raise InvalidJson("the message body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest(
            f'the message must be a JSON object with an "action" field, got {_json_type(value)}'
        )
    # Counting brackets (in C) spares the walk for every message that cannot be too deep.
    if body.count("[") + body.count("{") > MAX_NESTING and _nesting(value) > MAX_NESTING:
        raise BadRequest(_TOO_DEEP)
    return value


def _nesting(value: Any) -> int:
    """How many levels of arrays and objects `value` nests; stops counting past the limit."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            return deepest
        pending.extend((child, depth + 1) for child in children)
    return deepest


class _Overflow(ValueError):
    pass


def _finite_float(text: str) -> float:
    # 1e400 is valid JSON, but Python reads it as inf and would write it back as Infinity,
    # which is not: every recipient, and the room's history, would get a frame no client
    # can parse.
    value = float(text)
    if math.isinf(value):
        raise _Overflow(f"the number {text[:40]} is too large: numbers must fit a 64-bit float")
    return value


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not, and clients could not parse them.
    raise ValueError(f"{name} is not JSON")


def room_field(message: Mapping[str, Any], *, required: bool) -> str:
    """The `room` field, validated; `lobby` when it is optional and absent."""
    if "room" not in message or message["room"] is None:
        if required:
            raise BadRequest('"room" is required: a room name of 1-64 characters [A-Za-z0-9_.:-]')
        return DEFAULT_ROOM
    return validate_room(message["room"])


def validate_room(room: Any) -> str:
    if not isinstance(room, str):
        raise BadRequest(f'"room" must be a string, got {_json_type(room)}')
    if not ROOM_PATTERN.fullmatch(room):
        raise BadRequest('"room" must be 1-64 characters of letters, digits, "_", ".", ":" or "-"')
    return room


def user_field(message: Mapping[str, Any]) -> str:
    """The `to` field of a direct message: a user id."""
    value = message.get("to")
    if not isinstance(value, str):
        raise BadRequest(f'"to" must be the userId of the recipient, got {_json_type(value)}')
    if not is_user_id(value):
        raise BadRequest(f'"to" must be a userId of 1-{USER_ID_MAX} printable characters')
    return value


def is_user_id(value: object) -> TypeGuard[str]:
    """Whether `value` can be a user id: 1-USER_ID_MAX printable characters."""
    return isinstance(value, str) and 1 <= len(value) <= USER_ID_MAX and value.isprintable()


def limit_field(message: Mapping[str, Any], *, default: int, maximum: int) -> int:
    value = message.get("limit", default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise BadRequest(f'"limit" must be a whole number from 1 to {maximum}')
    return value


def validate_name(name: Any) -> str:
    """A display name: 1-32 printable characters, surrounding white space removed."""
    if not isinstance(name, str):
        raise BadRequest(f'"name" must be a string, got {_json_type(name)}')
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= NAME_MAX or not cleaned.isprintable():
        raise BadRequest(f'"name" must be 1-{NAME_MAX} printable characters')
    return cleaned


def guest_name() -> str:
    return f"guest-{secrets.token_hex(3)}"


def new_message_id() -> str:
    return uuid.uuid4().hex


def now_ms() -> int:
    return int(time.time() * 1000)


def encode(message: Mapping[str, Any]) -> bytes:
    """Compact JSON, UTF-8; non-ASCII kept as is so sizes match what clients see."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_deliverable(message: Mapping[str, Any], limit: int = MAX_POST_BYTES) -> bytes:
    """`encode`, refusing a message larger than one `@connections` POST may carry (or
    `limit`, for a room message: MAX_ROOM_MESSAGE_BYTES).

    Also refused: text UTF-8 cannot carry (a lone surrogate, which JSON's `\\uXXXX` escapes
    can spell) and nesting too deep to encode; either would fail every reader of the message.
    """
    try:
        payload = encode(message)
    except UnicodeEncodeError:
        raise BadRequest(
            '"data" holds a lone surrogate (a \\ud800-\\udfff escape without its pair), '
            "which is not text"
        ) from None
    except RecursionError:
        raise BadRequest(_TOO_DEEP) from None
    if len(payload) > limit:
        raise PayloadTooLarge(
            f'"data" is too large: the message would be {len(payload)} bytes, '
            f"the limit is {limit}"
            + (" (a room message must also fit a history page)" if limit < MAX_POST_BYTES else "")
        )
    return payload


def error_reply(error: ClientError, *, actions: bool = False) -> dict[str, Any]:
    reply: dict[str, Any] = {"type": "error", "error": error.code, "message": str(error)}
    if actions:
        reply["actions"] = list(ACTIONS)
    return reply


#: How the error messages name each type `json.loads` returns; bool first, as it is an int.
_JSON_TYPE_NAMES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "null"),
    (bool, "a boolean"),
    ((int, float), "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "an object"),
)


def _json_type(value: Any) -> str:
    for types, name in _JSON_TYPE_NAMES:
        if isinstance(value, types):
            return name
    return type(value).__name__


def check_parsed(message: Any) -> None:
    """What `parse_body` refuses, for a message another parser read (the HTTP API's body):
    NaN and Infinity, which Python's json accepts, and nesting deeper than MAX_NESTING."""
    try:
        json.dumps(message, allow_nan=False)
    except ValueError:
        raise BadRequest("NaN and Infinity are not JSON numbers") from None
    except RecursionError:
        raise BadRequest(_TOO_DEEP) from None
    if _nesting(message) > MAX_NESTING:
        raise BadRequest(_TOO_DEEP)
