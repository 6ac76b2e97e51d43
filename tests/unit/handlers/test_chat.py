"""The chat function: sendmessage, join, leave and `$default`, through the template's handler.

Flows assert exactly what each connection received from moto's @connections backend; bad input
asserts the error code and message, and that the table is exactly as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from switchboard import broadcast, runtime
from switchboard.config import Config
from switchboard.protocol import ACTIONS, MAX_POST_BYTES
from switchboard.runtime import Runtime
from switchboard.store import Store
from tests.support import management_api
from tests.support.events import connection_id, message_event
from tests.support.management_api import ManagementFaults, clear, received, recipients
from tests.support.stack import Stack, invoke, reply

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Items = Callable[[], list[dict[str, Any]]]
Keys = Callable[[], set[tuple[str, str]]]
ADA, BOB, CY, DEE = (connection_id(n) for n in (1, 2, 3, 4))
ROOM_RULE = '"room" must be 1-64 characters of letters, digits, "_", ".", ":" or "-"'
ROOM_REQUIRED = '"room" is required: a room name of 1-64 characters [A-Za-z0-9_.:-]'


@pytest.fixture
def trio(stack: Stack) -> Stack:
    """ada, bob and cy connected, all in the lobby."""
    for cid, name in ((ADA, "ada"), (BOB, "bob"), (CY, "cy")):
        assert stack.connect(cid, name=name) == {"statusCode": 200}
    assert recipients() == set()
    return stack


def error(code: str, message: str, *, actions: bool = False) -> dict[str, Any]:
    expected: dict[str, Any] = {"type": "error", "error": code, "message": message}
    if actions:
        expected["actions"] = list(ACTIONS)
    return expected


# ------------------------------------------------------------------------------------ flows


def test_a_message_reaches_every_other_member_exactly_once(trio: Stack) -> None:
    sent = trio.send(ADA, {"action": "sendmessage", "data": "hello"})
    assert re.fullmatch(r"[0-9a-f]{32}", sent["id"])
    assert sent == {
        "type": "sent",
        "id": sent["id"],
        "room": "lobby",
        "delivered": 2,
        "pruned": 0,
        "failed": 0,
    }
    for cid in (BOB, CY):
        [message] = received(cid)
        assert message == {
            "type": "message",
            "room": "lobby",
            "from": {"connectionId": ADA, "name": "ada"},
            "data": "hello",
            "id": sent["id"],
            "ts": message["ts"],
        }
        assert 10**12 < message["ts"] < 10**13
    assert received(ADA) == [], "the sender gets its reply as the route response only"


def test_join_send_leave_disconnect_with_four_connections(trio: Stack, keys: Keys) -> None:
    stack = trio
    assert stack.send(BOB, {"action": "join", "room": "dev"}) == {
        "type": "joined",
        "room": "dev",
        "name": "bob",
        "connectionId": BOB,
    }
    assert recipients() == set(), "nobody else was in dev"

    assert stack.send(CY, {"action": "join", "room": "dev"})["type"] == "joined"
    assert received(BOB) == [{"type": "joined", "room": "dev", "name": "cy", "connectionId": CY}]
    assert recipients() == {BOB}

    stack.connect(DEE, name="dee")
    clear()
    sent = stack.send(BOB, {"action": "sendmessage", "room": "dev", "data": {"n": [1, 2]}})
    assert (sent["room"], sent["delivered"], sent["pruned"]) == ("dev", 1, 0)
    assert received(CY) == [
        {
            "type": "message",
            "room": "dev",
            "from": {"connectionId": BOB, "name": "bob"},
            "data": {"n": [1, 2]},
            "id": sent["id"],
            "ts": received(CY)[0]["ts"],
        }
    ]
    assert recipients() == {CY}

    clear()
    assert stack.send(ADA, {"action": "sendmessage", "room": "dev", "data": "let me in"}) == error(
        "forbidden", 'you are not in room "dev": join it first'
    )
    assert recipients() == set()

    assert stack.send(CY, {"action": "leave", "room": "dev"}) == {
        "type": "left",
        "room": "dev",
        "name": "cy",
        "connectionId": CY,
    }
    assert received(BOB) == [{"type": "left", "room": "dev", "name": "cy", "connectionId": CY}]
    assert recipients() == {BOB}

    clear()
    assert stack.send(DEE, {"action": "sendmessage", "data": "hi all"})["delivered"] == 3
    assert recipients() == {ADA, BOB, CY}
    assert all(len(received(cid)) == 1 for cid in (ADA, BOB, CY))

    clear()
    assert stack.disconnect(BOB) == {"statusCode": 200}
    left = {"type": "left", "name": "bob", "connectionId": BOB}
    for cid in (ADA, CY, DEE):
        assert received(cid) == [{**left, "room": "lobby"}]
    assert recipients() == {ADA, CY, DEE}, "dev is empty now: nobody hears bob leave it"
    assert keys() == {
        key
        for cid in (ADA, CY, DEE)
        for key in ((f"CONN#{cid}", "META"), ("ROOM#lobby", f"CONN#{cid}"))
    }


def test_join_and_leave_are_idempotent(trio: Stack, keys: Keys) -> None:
    joined = {"type": "joined", "room": "dev", "name": "ada", "connectionId": ADA}
    assert trio.send(ADA, {"action": "join", "room": "dev"}) == joined
    assert trio.send(BOB, {"action": "join", "room": "dev"})["type"] == "joined"
    clear()
    assert trio.send(ADA, {"action": "join", "room": "dev"}) == joined
    assert recipients() == set(), "joining again announces nothing"
    left = {**joined, "type": "left"}
    assert trio.send(ADA, {"action": "leave", "room": "dev"}) == left
    assert received(BOB) == [left]
    clear()
    assert trio.send(ADA, {"action": "leave", "room": "dev"}) == left
    assert trio.send(ADA, {"action": "leave", "room": "never-joined"}) == {
        **left,
        "room": "never-joined",
    }
    assert recipients() == set()
    assert ("ROOM#dev", f"CONN#{ADA}") not in keys()


@pytest.mark.parametrize(
    "data", [None, 0, 3.5, "", "héllo ✓", [], [1, "two"], {}, {"deep": {"er": [True]}}, False]
)
def test_data_may_be_any_json_value(trio: Stack, data: Any) -> None:
    assert trio.send(ADA, {"action": "sendmessage", "data": data})["delivered"] == 2
    assert received(BOB)[0]["data"] == data


def test_the_sample_chat_app_message_works_unchanged(trio: Stack) -> None:
    body = '{"action":"sendmessage","data":"hello"}'  # aws-samples simple-websockets-chat-app
    response = trio.send_raw(ADA, body)
    assert response["statusCode"] == 200
    assert reply(response)["delivered"] == 2
    assert received(BOB)[0]["data"] == "hello"


def test_default_route_still_serves_known_actions(trio: Stack) -> None:
    """A stack wired with fewer routes sends everything to `$default`; the body decides."""
    event = message_event(ADA, json.dumps({"action": "join", "room": "dev"}), "$default")
    assert reply(invoke(event))["type"] == "joined"


class SmallPagesRuntime(Runtime):
    """The container runtime, but its Store reads rooms a few members per Query page."""

    def __init__(self, config: Config, store: Store) -> None:
        super().__init__(config)
        self._small_pages = store

    @property
    def store(self) -> Store:
        return self._small_pages


@pytest.fixture
def small_pages(db: DynamoDBClient, table: str) -> Iterator[Store]:
    store = Store(db, table, query_page_size=3)
    runtime.set_runtime(SmallPagesRuntime(Config.from_env(), store))
    yield store
    runtime.reset()


def test_a_room_larger_than_one_query_page(stack: Stack, small_pages: Store) -> None:
    members = [connection_id(n) for n in range(10, 20)]
    for cid in [ADA, *members]:
        stack.connect(cid)
    assert len(list(small_pages.room_connection_pages("lobby"))) >= 4
    sent = stack.send(ADA, {"action": "sendmessage", "data": "to all"})
    assert sent["delivered"] == 10
    assert recipients() == set(members)
    for cid in members:
        assert [m["id"] for m in received(cid)] == [sent["id"]]


# ------------------------------------------------------------------------ stale connections


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(broadcast, "time", SimpleNamespace(sleep=waited.append))
    return waited


def test_stale_members_are_pruned_and_counted(
    trio: Stack, faults: ManagementFaults, keys: Keys
) -> None:
    trio.connect(DEE)
    trio.send(BOB, {"action": "join", "room": "dev"})
    faults.fail(BOB, management_api.gone)
    faults.fail(CY, management_api.gone)
    sent = trio.send(ADA, {"action": "sendmessage", "data": "anyone?"})
    assert (sent["delivered"], sent["pruned"], sent["failed"]) == (1, 2, 0)
    assert recipients() == {DEE}
    assert keys() == {
        (f"CONN#{ADA}", "META"),
        ("ROOM#lobby", f"CONN#{ADA}"),
        (f"CONN#{DEE}", "META"),
        ("ROOM#lobby", f"CONN#{DEE}"),
    }, "bob's dev membership went with him"
    assert trio.send(BOB, {"action": "sendmessage", "data": "I'm back"}) == error(
        "not_connected",
        f"connection {BOB} is no longer registered (closed, expired or pruned): reconnect",
    )


def test_throttled_then_failed_members_are_counted(
    trio: Stack, faults: ManagementFaults, sleeps: list[float]
) -> None:
    faults.fail(BOB, management_api.throttled, times=2)
    faults.fail(CY, management_api.throttled)
    sent = trio.send(ADA, {"action": "sendmessage", "data": "x"})
    assert (sent["delivered"], sent["pruned"], sent["failed"]) == (1, 0, 1)
    assert faults.attempts[BOB] == 3
    assert faults.attempts[CY] == 5
    assert recipients() == {BOB}


def test_other_errors_do_not_abort_the_broadcast(trio: Stack, faults: ManagementFaults) -> None:
    trio.connect(DEE)
    faults.fail(BOB, management_api.internal_error)
    faults.fail(CY, management_api.forbidden)
    sent = trio.send(ADA, {"action": "sendmessage", "data": "x"})
    assert (sent["delivered"], sent["pruned"], sent["failed"]) == (1, 0, 2)
    assert recipients() == {DEE}


# ------------------------------------------------------------------------------- bad input

TOO_LARGE = "x" * MAX_POST_BYTES
BAD_MESSAGES: list[tuple[str, Any, int, dict[str, Any]]] = [
    (
        "data missing",
        {"action": "sendmessage"},
        400,
        error("bad_request", '"data" is required: any JSON value to send to the room'),
    ),
    (
        "data missing, room given",
        {"action": "sendmessage", "room": "lobby"},
        400,
        error("bad_request", '"data" is required: any JSON value to send to the room'),
    ),
    (
        "room a number",
        {"action": "sendmessage", "data": "x", "room": 5},
        400,
        error("bad_request", '"room" must be a string, got a number'),
    ),
    (
        "room an array",
        {"action": "sendmessage", "data": "x", "room": ["lobby"]},
        400,
        error("bad_request", '"room" must be a string, got an array'),
    ),
    (
        "room empty",
        {"action": "sendmessage", "data": "x", "room": ""},
        400,
        error("bad_request", ROOM_RULE),
    ),
    (
        "room 65 characters",
        {"action": "sendmessage", "data": "x", "room": "r" * 65},
        400,
        error("bad_request", ROOM_RULE),
    ),
    ("join without room", {"action": "join"}, 400, error("bad_request", ROOM_REQUIRED)),
    ("join room null", {"action": "join", "room": None}, 400, error("bad_request", ROOM_REQUIRED)),
    ("join room empty", {"action": "join", "room": ""}, 400, error("bad_request", ROOM_RULE)),
    ("join room 65", {"action": "join", "room": "r" * 65}, 400, error("bad_request", ROOM_RULE)),
    (
        "join room space",
        {"action": "join", "room": "dev room"},
        400,
        error("bad_request", ROOM_RULE),
    ),
    ("join room slash", {"action": "join", "room": "a/b"}, 400, error("bad_request", ROOM_RULE)),
    ("join room unicode", {"action": "join", "room": "café"}, 400, error("bad_request", ROOM_RULE)),
    (
        "join room number",
        {"action": "join", "room": 64},
        400,
        error("bad_request", '"room" must be a string, got a number'),
    ),
    (
        "join room object",
        {"action": "join", "room": {"n": "dev"}},
        400,
        error("bad_request", '"room" must be a string, got an object'),
    ),
    (
        "join room boolean",
        {"action": "join", "room": True},
        400,
        error("bad_request", '"room" must be a string, got a boolean'),
    ),
    ("leave without room", {"action": "leave"}, 400, error("bad_request", ROOM_REQUIRED)),
    ("leave room 65", {"action": "leave", "room": "r" * 65}, 400, error("bad_request", ROOM_RULE)),
    (
        "leave room number",
        {"action": "leave", "room": 1.5},
        400,
        error("bad_request", '"room" must be a string, got a number'),
    ),
    (
        "unknown action",
        {"action": "dance"},
        400,
        error("unknown_action", "unknown action 'dance'", actions=True),
    ),
    (
        "action a number",
        {"action": 7},
        400,
        error("unknown_action", "unknown action '7'", actions=True),
    ),
    (
        "action null",
        {"action": None, "data": "x"},
        400,
        error("unknown_action", 'the message has no "action" field', actions=True),
    ),
    (
        "no action",
        {"data": "x"},
        400,
        error("unknown_action", 'the message has no "action" field', actions=True),
    ),
    (
        "array body",
        [{"action": "sendmessage"}],
        400,
        error(
            "bad_request",
            'the message must be a JSON object with an "action" field, got an array',
            actions=True,
        ),
    ),
    (
        "number body",
        42,
        400,
        error(
            "bad_request",
            'the message must be a JSON object with an "action" field, got a number',
            actions=True,
        ),
    ),
    (
        "string body",
        "sendmessage",
        400,
        error(
            "bad_request",
            'the message must be a JSON object with an "action" field, got a string',
            actions=True,
        ),
    ),
    (
        "null body",
        None,
        400,
        error(
            "bad_request",
            'the message must be a JSON object with an "action" field, got null',
            actions=True,
        ),
    ),
    (
        "not in the room",
        {"action": "sendmessage", "room": "dev", "data": "x"},
        403,
        error("forbidden", 'you are not in room "dev": join it first'),
    ),
]


@pytest.mark.parametrize(
    ("message", "status", "expected"),
    [case[1:] for case in BAD_MESSAGES],
    ids=[case[0] for case in BAD_MESSAGES],
)
def test_bad_messages_get_an_error_and_change_nothing(
    trio: Stack, items: Items, message: Any, status: int, expected: dict[str, Any]
) -> None:
    before = items()
    response = trio.send_raw(ADA, json.dumps(message))
    assert response["statusCode"] == status
    assert reply(response) == expected
    assert items() == before
    assert recipients() == set()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("hello there", error("invalid_json", "the message body is not valid JSON", actions=True)),
        (
            '{"action": "sendmessage", "data": ',
            error("invalid_json", "the message body is not valid JSON", actions=True),
        ),
        (
            "",
            error(
                "invalid_json",
                "the message body is empty: send a JSON object such as "
                '{"action": "sendmessage", "data": "hello"}',
                actions=True,
            ),
        ),
        (
            None,
            error(
                "invalid_json",
                "the message body is empty: send a JSON object such as "
                '{"action": "sendmessage", "data": "hello"}',
                actions=True,
            ),
        ),
    ],
    ids=["text", "truncated", "empty", "absent"],
)
def test_frames_that_are_not_json(
    trio: Stack, items: Items, body: str | None, expected: dict[str, Any]
) -> None:
    before = items()
    response = trio.send_raw(ADA, body)
    assert (response["statusCode"], reply(response)) == (400, expected)
    assert items() == before
    assert recipients() == set()


def test_data_too_large_for_one_post(trio: Stack, items: Items) -> None:
    before = items()
    sent = trio.send(ADA, {"action": "sendmessage", "data": TOO_LARGE})
    assert sent["error"] == "bad_request"
    size = re.fullmatch(
        rf'"data" is too large: the message would be (\d+) bytes, the limit is {MAX_POST_BYTES}',
        sent["message"],
    )
    assert size is not None, sent["message"]
    assert int(size[1]) > MAX_POST_BYTES
    assert items() == before
    assert recipients() == set()


@pytest.mark.parametrize(
    "message",
    [
        {"action": "sendmessage", "data": "x"},
        {"action": "join", "room": "dev"},
        {"action": "leave", "room": "lobby"},
    ],
    ids=lambda m: m["action"],
)
def test_actions_of_a_connection_whose_record_is_gone(
    stack: Stack, items: Items, message: dict[str, Any]
) -> None:
    stack.connect(BOB)
    before = items()
    response = stack.send_raw(ADA, json.dumps(message))
    assert response["statusCode"] == 410
    assert reply(response) == error(
        "not_connected",
        f"connection {ADA} is no longer registered (closed, expired or pruned): reconnect",
    )
    assert items() == before, "no orphaned membership"
    assert recipients() == set()


def test_the_room_cap(stack: Stack, keys: Keys) -> None:
    stack.connect(ADA)
    for number in range(49):
        assert stack.send(ADA, {"action": "join", "room": f"r{number}"})["type"] == "joined"
    before = keys()
    assert len(before) == 51
    assert stack.send(ADA, {"action": "join", "room": "r49"}) == error(
        "bad_request", "a connection may be in at most 50 rooms; leave one first"
    )
    assert keys() == before
    assert stack.send(ADA, {"action": "join", "room": "r0"})["type"] == "joined"
    stack.disconnect(ADA)
    assert keys() == set()


def test_a_join_racing_a_disconnect_leaves_no_orphaned_membership(
    stack: Stack, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The join reads the record, `$disconnect` removes it, then the join writes: refused."""
    stack.connect(ADA)
    store = runtime.current().store
    read = store.require_connection

    def read_then_disconnect(cid: str) -> Any:
        found = read(cid)
        assert stack.disconnect(cid) == {"statusCode": 200}
        return found

    monkeypatch.setattr(store, "require_connection", read_then_disconnect)
    response = stack.send_raw(ADA, json.dumps({"action": "join", "room": "dev"}))
    assert (response["statusCode"], reply(response)["error"]) == (410, "not_connected")
    assert keys() == set()
