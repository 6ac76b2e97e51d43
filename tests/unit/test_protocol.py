"""Validation at the boundary: bodies, room names, display names, sizes, replies."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from switchboard.errors import (
    BadRequest,
    ClientError,
    Forbidden,
    InvalidJson,
    PayloadTooLarge,
    UnknownAction,
)
from switchboard.protocol import (
    ACTIONS,
    DEFAULT_ROOM,
    MAX_POST_BYTES,
    check_parsed,
    encode,
    encode_deliverable,
    error_reply,
    guest_name,
    limit_field,
    new_message_id,
    now_ms,
    parse_body,
    room_field,
    user_field,
    validate_name,
    validate_room,
)

TOO_DEEP = "the message is nested too deeply: at most 64 levels of arrays and objects"


def test_parse_body_returns_the_object() -> None:
    assert parse_body('{"action": "join", "room": "x"}') == {"action": "join", "room": "x"}


def test_parse_body_reads_up_to_the_nesting_limit() -> None:
    """The message object is the first level: its data may nest 63 more."""
    deepest = '{"action": "sendmessage", "data": ' + "[" * 63 + "]" * 63 + "}"
    assert parse_body(deepest)["data"] == json.loads("[" * 63 + "]" * 63)
    wide = json.dumps({"action": "sendmessage", "data": [[1]] * 200})
    assert parse_body(wide)["data"] == [[1]] * 200, "many brackets, little depth"


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (
            None,
            InvalidJson,
            "the message body is empty: send a JSON object such as "
            '{"action": "sendmessage", "data": "hello"}',
        ),
        (
            "",
            InvalidJson,
            "the message body is empty: send a JSON object such as "
            '{"action": "sendmessage", "data": "hello"}',
        ),
        ("hello", InvalidJson, "the message body is not valid JSON"),
        ('{"action": "join"', InvalidJson, "the message body is not valid JSON"),
        # Too deep for Python's json to read at all: the depth is what is wrong first.
        ("[" * 100_000, BadRequest, TOO_DEEP),
        (
            '{"action": "sendmessage", "data": ' + "[" * 10_000 + "]" * 10_000 + "}",
            BadRequest,
            TOO_DEEP,
        ),
        ('{"action": "sendmessage", "data": ' + "[" * 64 + "]" * 64 + "}", BadRequest, TOO_DEEP),
        ('{"a": ' * 65 + "1" + "}" * 65, BadRequest, TOO_DEEP),
        (
            "[1, 2]",
            BadRequest,
            'the message must be a JSON object with an "action" field, got an array',
        ),
        (
            "42",
            BadRequest,
            'the message must be a JSON object with an "action" field, got a number',
        ),
        (
            '"hi"',
            BadRequest,
            'the message must be a JSON object with an "action" field, got a string',
        ),
        ("null", BadRequest, 'the message must be a JSON object with an "action" field, got null'),
        # Valid JSON that Python would read as inf, and write back as Infinity (not JSON).
        (
            '{"action": "sendmessage", "data": 1e400}',
            BadRequest,
            "the number 1e400 is too large: numbers must fit a 64-bit float",
        ),
        (
            '{"action": "sendmessage", "data": {"deep": [-2.5E+999]}}',
            BadRequest,
            "the number -2.5E+999 is too large: numbers must fit a 64-bit float",
        ),
        (
            "true",
            BadRequest,
            'the message must be a JSON object with an "action" field, got a boolean',
        ),
    ],
)
def test_parse_body_refuses(body: str | None, error: type[ClientError], message: str) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        parse_body(body)


@pytest.mark.parametrize("room", ["lobby", "a", "A" * 64, "team-1.dev:chat_room", "0", "..", "-:-"])
def test_valid_room_names(room: str) -> None:
    assert validate_room(room) == room


ROOM_RULE = '"room" must be 1-64 characters of letters, digits, "_", ".", ":" or "-"'


@pytest.mark.parametrize(
    ("room", "message"),
    [
        ("", ROOM_RULE),
        ("a" * 65, ROOM_RULE),
        ("has space", ROOM_RULE),
        ("slash/room", ROOM_RULE),
        ("émoji", ROOM_RULE),
        ("room\n", ROOM_RULE),
        ("#general", ROOM_RULE),
        (5, '"room" must be a string, got a number'),
        (["lobby"], '"room" must be a string, got an array'),
        ({"name": "lobby"}, '"room" must be a string, got an object'),
        (True, '"room" must be a string, got a boolean'),
    ],
)
def test_invalid_room_names(room: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=f"^{re.escape(message)}$"):
        validate_room(room)


def test_room_field_defaults_to_the_lobby_when_optional() -> None:
    assert room_field({}, required=False) == DEFAULT_ROOM == "lobby"
    assert room_field({"room": None}, required=False) == "lobby"
    assert room_field({"room": "dev"}, required=False) == "dev"


@pytest.mark.parametrize("message", [{}, {"room": None}])
def test_room_field_required(message: dict[str, Any]) -> None:
    with pytest.raises(
        BadRequest,
        match=re.escape('"room" is required: a room name of 1-64 characters [A-Za-z0-9_.:-]'),
    ):
        room_field(message, required=True)


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [("ada", "ada"), ("  ada  ", "ada"), ("x" * 32, "x" * 32), ("Zoë 🚀", "Zoë 🚀")],
)
def test_valid_names(raw: str, cleaned: str) -> None:
    assert validate_name(raw) == cleaned


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", '"name" must be 1-32 printable characters'),
        ("   ", '"name" must be 1-32 printable characters'),
        ("x" * 33, '"name" must be 1-32 printable characters'),
        ("a\x00b", '"name" must be 1-32 printable characters'),
        ("a\tb", '"name" must be 1-32 printable characters'),
        ("bell\x07", '"name" must be 1-32 printable characters'),
        ("a\u200bb", '"name" must be 1-32 printable characters'),
        (7, '"name" must be a string, got a number'),
        (None, '"name" must be a string, got null'),
    ],
)
def test_invalid_names(name: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=f"^{re.escape(message)}$"):
        validate_name(name)


def test_guest_names_are_valid_and_distinct() -> None:
    names = {guest_name() for _ in range(50)}
    assert len(names) == 50
    for name in names:
        assert re.fullmatch(r"guest-[0-9a-f]{6}", name)
        assert validate_name(name) == name


def test_message_ids_are_unique_hex() -> None:
    ids = {new_message_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_now_is_in_milliseconds() -> None:
    assert 10**12 < now_ms() < 10**13


def test_encode_is_compact_utf8() -> None:
    assert encode({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


def test_encode_deliverable_up_to_the_limit() -> None:
    overhead = len(encode({"d": ""}))
    payload = encode_deliverable({"d": "x" * (MAX_POST_BYTES - overhead)})
    assert len(payload) == MAX_POST_BYTES == 128 * 1024


def test_encode_deliverable_refuses_one_byte_more() -> None:
    overhead = len(encode({"d": ""}))
    with pytest.raises(
        BadRequest,
        match=f'^"data" is too large: the message would be {MAX_POST_BYTES + 1} bytes, '
        f"the limit is {MAX_POST_BYTES}$",
    ):
        encode_deliverable({"d": "x" * (MAX_POST_BYTES - overhead + 1)})


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udc00\ud800"])
def test_encode_deliverable_refuses_lone_surrogates(text: str) -> None:
    """JSON can spell them (`"\\ud800"`), UTF-8 cannot carry them: no reader could decode it."""
    parsed = parse_body(json.dumps({"action": "sendmessage", "data": {text: text}}))
    with pytest.raises(BadRequest, match=r'^"data" holds a lone surrogate'):
        encode_deliverable({"data": parsed["data"]})
    pair = parse_body('{"action": "sendmessage", "data": "\\ud83d\\ude00"}')["data"]
    assert encode_deliverable({"data": pair}) == '{"data":"😀"}'.encode(), "a pair is one character"


def test_encode_deliverable_counts_utf8_bytes_not_characters() -> None:
    overhead = len(encode({"d": ""}))
    characters = (MAX_POST_BYTES - overhead) // 2 + 1  # two bytes each in UTF-8
    with pytest.raises(BadRequest, match="too large"):
        encode_deliverable({"d": "é" * characters})


def test_error_replies() -> None:
    assert error_reply(BadRequest("why")) == {
        "type": "error",
        "error": "bad_request",
        "message": "why",
    }
    assert error_reply(UnknownAction("what"), actions=True) == {
        "type": "error",
        "error": "unknown_action",
        "message": "what",
        "actions": ["sendmessage", "join", "leave", "sendto", "rooms", "members", "history"],
    }
    assert error_reply(Forbidden("no"))["error"] == "forbidden"
    assert json.loads(json.dumps(error_reply(InvalidJson("x")))) == {
        "type": "error",
        "error": "invalid_json",
        "message": "x",
    }


def test_actions_are_the_custom_routes() -> None:
    assert ACTIONS == ("sendmessage", "join", "leave", "sendto", "rooms", "members", "history")


@pytest.mark.parametrize(
    "user_id",
    ["u", "u" * 128, "auth0|66f2a1c0b7e3d94a1c2e5f10", "guest:BFaT_fALIAMCKug=", "josé ✓"],
)
def test_user_field_accepts_printable_ids_up_to_128(user_id: str) -> None:
    assert user_field({"to": user_id}) == user_id


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, '"to" must be the userId of the recipient, got null'),
        (5, '"to" must be the userId of the recipient, got a number'),
        (["u"], '"to" must be the userId of the recipient, got an array'),
        ("", '"to" must be a userId of 1-128 printable characters'),
        ("u" * 129, '"to" must be a userId of 1-128 printable characters'),
        ("u\x00", '"to" must be a userId of 1-128 printable characters'),
        ("zero\u200bwidth", '"to" must be a userId of 1-128 printable characters'),
    ],
)
def test_user_field_refuses(value: Any, message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        user_field({"to": value})
    assert str(raised.value) == message


def test_user_field_absent() -> None:
    with pytest.raises(BadRequest) as raised:
        user_field({})
    assert str(raised.value) == '"to" must be the userId of the recipient, got null'


def test_limit_field_default_and_bounds() -> None:
    assert limit_field({}, default=50, maximum=100) == 50
    assert limit_field({"limit": 1}, default=50, maximum=100) == 1
    assert limit_field({"limit": 100}, default=50, maximum=100) == 100


@pytest.mark.parametrize("value", [0, -1, 101, 2.0, "5", True, False, None, [5]])
def test_limit_field_refuses(value: Any) -> None:
    with pytest.raises(BadRequest) as raised:
        limit_field({"limit": value}, default=50, maximum=100)
    assert str(raised.value) == '"limit" must be a whole number from 1 to 100'


# ------------------------------------------- values parsed elsewhere (the HTTP API's body)


def _levels(levels: int) -> dict[str, Any]:
    value: Any = "bottom"
    for _ in range(levels - 1):
        value = [value]
    return {"action": "sendmessage", "data": value}


@pytest.mark.parametrize("levels", [1, 2, 63, 64, 65, 200])
def test_check_parsed_refuses_exactly_what_parse_body_refuses(levels: int) -> None:
    message = _levels(levels)
    try:
        parse_body(json.dumps(message))
        refused_as_text = None
    except BadRequest as error:
        refused_as_text = str(error)
    try:
        check_parsed(message)
        refused_parsed = None
    except BadRequest as error:
        refused_parsed = str(error)
    assert refused_parsed == refused_as_text
    assert (refused_parsed is None) == (levels <= 64)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_check_parsed_refuses_nan_and_infinity(number: float) -> None:
    with pytest.raises(BadRequest, match=r"^NaN and Infinity are not JSON numbers$"):
        check_parsed({"data": [1, {"x": number}]})


def test_a_message_too_large_is_payload_too_large_and_still_bad_request() -> None:
    with pytest.raises(PayloadTooLarge) as caught:
        encode_deliverable({"data": "x" * MAX_POST_BYTES})
    # The WebSocket protocol answers it as before; the HTTP API maps the class to 413.
    assert caught.value.code == "bad_request"
    assert isinstance(caught.value, BadRequest)
