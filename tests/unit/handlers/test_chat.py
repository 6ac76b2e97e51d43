"""The chat function: every action and `$default`, through the template's handler.

Flows assert exactly what each connection received from moto's @connections backend; bad input
asserts the error code and message, and that the table is exactly as before. The trio are
guests (no authorizer context); users connect with the context a valid token gives them.
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
from switchboard.history import encode_cursor
from switchboard.protocol import ACTIONS, MAX_POST_BYTES, MAX_ROOM_MESSAGE_BYTES
from switchboard.runtime import Runtime
from switchboard.store import Store
from tests.support import management_api
from tests.support.events import ANONYMOUS_CONTEXT, connection_id, message_event
from tests.support.management_api import ManagementFaults, clear, received, recipients
from tests.support.stack import Stack, invoke, reply

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Items = Callable[[], list[dict[str, Any]]]
Keys = Callable[[], set[tuple[str, str]]]
ADA, BOB, CY, DEE = (connection_id(n) for n in (1, 2, 3, 4))
ROOM_RULE = '"room" must be 1-64 characters of letters, digits, "_", ".", ":" or "-"'
ROOM_REQUIRED = '"room" is required: a room name of 1-64 characters [A-Za-z0-9_.:-]'
TO_RULE = '"to" must be a userId of 1-128 printable characters'
LIMIT_RULE = '"limit" must be a whole number from 1 to 100'


@pytest.fixture
def trio(stack: Stack) -> Stack:
    """ada, bob and cy connected, all in the lobby."""
    for cid, name in ((ADA, "ada"), (BOB, "bob"), (CY, "cy")):
        assert stack.connect(cid, name=name) == {"statusCode": 200}
    assert recipients() == set()
    return stack


def guest(cid: str, name: str) -> dict[str, Any]:
    """How a guest appears in `from` and in presence events."""
    return {"connectionId": cid, "name": name, "userId": f"guest:{cid}", "guest": True}


def presence(kind: str, room: str, cid: str, name: str) -> dict[str, Any]:
    """A guest's `joined` / `left` event (without the `messages` a join reply adds)."""
    return {
        "type": kind,
        "room": room,
        "name": name,
        "connectionId": cid,
        "userId": f"guest:{cid}",
        "guest": True,
    }


def joined_reply(
    room: str,
    cid: str,
    name: str,
    messages: list[dict[str, Any]] | None = None,
    next_cursor: str | None = None,
) -> dict[str, Any]:
    """A join's reply: the recent messages, and the cursor to older ones (None: no more)."""
    return {**presence("joined", room, cid, name), "messages": messages or [], "next": next_cursor}


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
            "from": guest(ADA, "ada"),
            "data": "hello",
            "id": sent["id"],
            "ts": message["ts"],
        }
        assert 10**12 < message["ts"] < 10**13
    assert received(ADA) == [], "the sender gets its reply as the route response only"


def test_join_send_leave_disconnect_with_four_connections(trio: Stack, keys: Keys) -> None:
    stack = trio
    assert stack.send(BOB, {"action": "join", "room": "dev"}) == joined_reply("dev", BOB, "bob")
    assert recipients() == set(), "nobody else was in dev"

    assert stack.send(CY, {"action": "join", "room": "dev"}) == joined_reply("dev", CY, "cy")
    assert received(BOB) == [presence("joined", "dev", CY, "cy")]
    assert recipients() == {BOB}

    stack.connect(DEE, name="dee")
    clear()
    sent = stack.send(BOB, {"action": "sendmessage", "room": "dev", "data": {"n": [1, 2]}})
    assert (sent["room"], sent["delivered"], sent["pruned"]) == ("dev", 1, 0)
    assert received(CY) == [
        {
            "type": "message",
            "room": "dev",
            "from": guest(BOB, "bob"),
            "data": {"n": [1, 2]},
            "id": sent["id"],
            "ts": received(CY)[0]["ts"],
        }
    ]
    assert recipients() == {CY}
    in_dev = ("MSG#dev", f"{received(CY)[0]['ts']:013d}#{sent['id']}")

    clear()
    assert stack.send(ADA, {"action": "sendmessage", "room": "dev", "data": "let me in"}) == error(
        "forbidden", 'you are not in room "dev": join it first'
    )
    assert recipients() == set()

    assert stack.send(CY, {"action": "leave", "room": "dev"}) == presence("left", "dev", CY, "cy")
    assert received(BOB) == [presence("left", "dev", CY, "cy")]
    assert recipients() == {BOB}

    clear()
    sent = stack.send(DEE, {"action": "sendmessage", "data": "hi all"})
    assert sent["delivered"] == 3
    assert recipients() == {ADA, BOB, CY}
    assert all(len(received(cid)) == 1 for cid in (ADA, BOB, CY))
    in_lobby = ("MSG#lobby", f"{received(ADA)[0]['ts']:013d}#{sent['id']}")

    clear()
    assert stack.disconnect(BOB) == {"statusCode": 200}
    for cid in (ADA, CY, DEE):
        assert received(cid) == [presence("left", "lobby", BOB, "bob")]
    assert recipients() == {ADA, CY, DEE}, "dev is empty now: nobody hears bob leave it"
    connections = {
        key
        for cid in (ADA, CY, DEE)
        for key in (
            (f"CONN#{cid}", "META"),
            ("ROOM#lobby", f"CONN#{cid}"),
            (f"USER#guest:{cid}", f"CONN#{cid}"),
        )
    }
    # The rooms keep the two messages delivered; the refused one was never stored. dev stays
    # in the room list's registry until that expires (room_index.py).
    assert keys() == connections | {in_dev, in_lobby, ("ROOMS", "ROOM#dev")}


def test_join_and_leave_are_idempotent(trio: Stack, keys: Keys) -> None:
    joined = joined_reply("dev", ADA, "ada")
    assert trio.send(ADA, {"action": "join", "room": "dev"}) == joined
    assert trio.send(BOB, {"action": "join", "room": "dev"})["type"] == "joined"
    clear()
    assert trio.send(ADA, {"action": "join", "room": "dev"}) == joined
    assert recipients() == set(), "joining again announces nothing"
    left = presence("left", "dev", ADA, "ada")
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
        (f"USER#guest:{ADA}", f"CONN#{ADA}"),
        (f"CONN#{DEE}", "META"),
        ("ROOM#lobby", f"CONN#{DEE}"),
        (f"USER#guest:{DEE}", f"CONN#{DEE}"),
        ("MSG#lobby", f"{received(DEE)[0]['ts']:013d}#{sent['id']}"),
        ("ROOMS", "ROOM#dev"),
        # Kept for their own $disconnects, which are coming.
        (f"CONN#{BOB}", "DEPARTED"),
        (f"CONN#{CY}", "DEPARTED"),
    }, "bob's and cy's records went with them, dev membership and user index too"
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
        error("bad_request", '"data" is required: any JSON value to send'),
    ),
    (
        "data missing, room given",
        {"action": "sendmessage", "room": "lobby"},
        400,
        error("bad_request", '"data" is required: any JSON value to send'),
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
    (
        "sendto without to",
        {"action": "sendto", "data": "x"},
        400,
        error("bad_request", '"to" must be the userId of the recipient, got null'),
    ),
    (
        "sendto to an object",
        {"action": "sendto", "to": {"userId": "u-bob"}, "data": "x"},
        400,
        error("bad_request", '"to" must be the userId of the recipient, got an object'),
    ),
    (
        "sendto to empty",
        {"action": "sendto", "to": "", "data": "x"},
        400,
        error("bad_request", TO_RULE),
    ),
    (
        "sendto to a control character",
        {"action": "sendto", "to": "u-bob\n", "data": "x"},
        400,
        error("bad_request", TO_RULE),
    ),
    (
        "sendto without data",
        {"action": "sendto", "to": f"guest:{BOB}"},
        400,
        error("bad_request", '"data" is required: any JSON value to send'),
    ),
    (
        "sendto a user not connected",
        {"action": "sendto", "to": "u-nobody", "data": "x"},
        404,
        error("not_found", 'user "u-nobody" is not connected'),
    ),
    (
        "sendto a guest id of no connection",
        {"action": "sendto", "to": f"guest:{DEE}", "data": "x"},
        404,
        error("not_found", f'user "guest:{DEE}" is not connected'),
    ),
    (
        "sendto a connection id",
        {"action": "sendto", "to": BOB, "data": "x"},
        404,
        error("not_found", f'user "{BOB}" is not connected'),
    ),
    ("members without room", {"action": "members"}, 400, error("bad_request", ROOM_REQUIRED)),
    (
        "members room slash",
        {"action": "members", "room": "a/b"},
        400,
        error("bad_request", ROOM_RULE),
    ),
    ("history without room", {"action": "history"}, 400, error("bad_request", ROOM_REQUIRED)),
    (
        "history room number",
        {"action": "history", "room": 3},
        400,
        error("bad_request", '"room" must be a string, got a number'),
    ),
    *[
        (
            f"history limit {json.dumps(limit)}",
            {"action": "history", "room": "lobby", "limit": limit},
            400,
            error("bad_request", LIMIT_RULE),
        )
        # Every refused value is in test_protocol; these show the action validates its limit.
        for limit in (0, 101, "10")
    ],
    (
        "history before a number",
        {"action": "history", "room": "lobby", "before": 17},
        400,
        error("bad_request", '"before" must be a cursor string from an earlier history reply'),
    ),
    (
        "history before garbage",
        {"action": "history", "room": "lobby", "before": "not a cursor"},
        400,
        error("bad_request", '"before" is not a valid history cursor'),
    ),
    (
        "history of a room not joined",
        {"action": "history", "room": "dev"},
        403,
        error("forbidden", 'you are not in room "dev": join it to read its history'),
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
        rf'"data" is too large: the message would be (\d+) bytes, the limit is '
        rf"{MAX_ROOM_MESSAGE_BYTES} \(a room message must also fit a history page\)",
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
        {"action": "sendto", "to": f"guest:{BOB}", "data": "x"},
        {"action": "rooms"},
        {"action": "history", "room": "lobby"},
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
    registered = {("ROOMS", f"ROOM#r{number}") for number in range(49)}
    assert registered <= before, "each room joined is in the room list's registry"
    assert len(before - registered) == 52, "the record, 50 memberships and the user index"
    assert stack.send(ADA, {"action": "join", "room": "r49"}) == error(
        "bad_request", "a connection may be in at most 50 rooms; leave one first"
    )
    assert keys() == before
    assert stack.send(ADA, {"action": "join", "room": "r0"})["type"] == "joined"
    stack.disconnect(ADA)
    assert keys() == registered, "only the registrations, which expire on their own"


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


# ------------------------------------------------------------------- users, from their tokens

ADA_1, ADA_2, BOB_U, GUS = (connection_id(n) for n in (21, 22, 23, 24))
ADA_FROM_1 = {"connectionId": ADA_1, "name": "ada", "userId": "u-ada"}
BOB_FROM = {"connectionId": BOB_U, "name": "bob", "userId": "u-bob"}


@pytest.fixture
def users(stack: Stack) -> Stack:
    """ada (granted private:x) on two connections, bob (granted private:y), and gus, a guest."""
    assert stack.connect_as(ADA_1, "u-ada", "ada", rooms=["private:x"]) == {"statusCode": 200}
    assert stack.connect_as(ADA_2, "u-ada", "ada", rooms=["private:x"]) == {"statusCode": 200}
    assert stack.connect_as(BOB_U, "u-bob", "bob", rooms=["private:y"]) == {"statusCode": 200}
    assert stack.connect(GUS, name="gus") == {"statusCode": 200}
    return stack


def user_presence(kind: str, room: str, cid: str, user_id: str, name: str) -> dict[str, Any]:
    return {"type": kind, "room": room, "name": name, "connectionId": cid, "userId": user_id}


def test_sendto_reaches_every_connection_of_the_user(users: Stack, keys: Keys) -> None:
    before = keys()
    sent = users.send(BOB_U, {"action": "sendto", "to": "u-ada", "data": {"text": "psst"}})
    assert re.fullmatch(r"[0-9a-f]{32}", sent["id"])
    assert sent == {
        "type": "sent",
        "to": "u-ada",
        "id": sent["id"],
        "delivered": 2,
        "pruned": 0,
        "failed": 0,
    }
    [direct] = received(ADA_1)
    assert direct == {
        "type": "direct",
        "from": BOB_FROM,
        "to": "u-ada",
        "data": {"text": "psst"},
        "id": sent["id"],
        "ts": direct["ts"],
    }
    assert 10**12 < direct["ts"] < 10**13
    assert received(ADA_2) == [direct]
    assert recipients() == {ADA_1, ADA_2}
    assert keys() == before, "direct messages are not kept in any history"


def test_sendto_a_guest_and_from_a_guest(users: Stack) -> None:
    assert (
        users.send(BOB_U, {"action": "sendto", "to": f"guest:{GUS}", "data": 1})["delivered"] == 1
    )
    assert [m["from"] for m in received(GUS)] == [BOB_FROM]
    clear()
    assert users.send(GUS, {"action": "sendto", "to": "u-bob", "data": 2})["delivered"] == 1
    [direct] = received(BOB_U)
    assert (direct["from"], direct["to"], direct["data"]) == (guest(GUS, "gus"), "u-bob", 2)


def test_sendto_oneself_reaches_ones_other_connections(users: Stack) -> None:
    sent = users.send(ADA_1, {"action": "sendto", "to": "u-ada", "data": "note to self"})
    assert (sent["delivered"], recipients()) == (1, {ADA_2})
    assert received(ADA_2)[0]["from"] == ADA_FROM_1


def test_sendto_a_user_who_went_offline(users: Stack, items: Items) -> None:
    users.disconnect(BOB_U)
    clear()
    before = items()
    response = users.send_raw(ADA_1, json.dumps({"action": "sendto", "to": "u-bob", "data": 1}))
    assert response["statusCode"] == 404
    assert reply(response) == error("not_found", 'user "u-bob" is not connected')
    assert items() == before
    assert recipients() == set()


def test_sendto_prunes_a_stale_connection_of_the_user(
    users: Stack, faults: ManagementFaults, keys: Keys
) -> None:
    faults.fail(ADA_2, management_api.gone)
    sent = users.send(BOB_U, {"action": "sendto", "to": "u-ada", "data": "x"})
    assert (sent["delivered"], sent["pruned"], sent["failed"]) == (1, 1, 0)
    assert {k for k in keys() if ADA_2 in k[0] or ADA_2 in k[1]} == {(f"CONN#{ADA_2}", "DEPARTED")}
    assert users.send(BOB_U, {"action": "sendto", "to": "u-ada", "data": "y"})["delivered"] == 1


def test_rooms_lists_the_callers_rooms(users: Stack) -> None:
    assert users.send(ADA_1, {"action": "rooms"}) == {"type": "rooms", "rooms": ["lobby"]}
    for room in ("private:x", "dev", "a-room"):
        users.send(ADA_1, {"action": "join", "room": room})
    users.send(ADA_1, {"action": "leave", "room": "lobby"})
    assert users.send(ADA_1, {"action": "rooms"}) == {
        "type": "rooms",
        "rooms": ["a-room", "dev", "private:x"],
    }
    assert users.send(ADA_2, {"action": "rooms"}) == {"type": "rooms", "rooms": ["lobby"]}
    assert users.send(GUS, {"action": "rooms", "room": "dev"}) == {
        "type": "rooms",
        "rooms": ["lobby"],
    }


def test_members_counts_each_users_connections(users: Stack) -> None:
    assert users.send(GUS, {"action": "members", "room": "lobby"}) == {
        "type": "members",
        "room": "lobby",
        "members": [
            {"name": "ada", "userId": "u-ada", "connections": 2},
            {"name": "bob", "userId": "u-bob", "connections": 1},
            {"name": "gus", "userId": f"guest:{GUS}", "connections": 1},
        ],
    }
    users.send(BOB_U, {"action": "join", "room": "dev"})
    users.send(ADA_2, {"action": "join", "room": "dev"})
    expected = {
        "type": "members",
        "room": "dev",
        "members": [
            {"name": "ada", "userId": "u-ada", "connections": 1},
            {"name": "bob", "userId": "u-bob", "connections": 1},
        ],
    }
    assert users.send(GUS, {"action": "members", "room": "dev"}) == expected, "a public room"
    assert users.send(BOB_U, {"action": "members", "room": "dev"}) == expected
    assert users.send(GUS, {"action": "members", "room": "empty"}) == {
        "type": "members",
        "room": "empty",
        "members": [],
    }
    assert recipients() == {BOB_U}, "only bob heard ada join dev; asking announces nothing"


# ------------------------------------------------------------------------------------ history


@pytest.fixture
def chatter(users: Stack) -> list[dict[str, Any]]:
    """ada and bob in dev; bob said 25 things. Returns them as ada received them."""
    users.send(ADA_1, {"action": "join", "room": "dev"})
    users.send(BOB_U, {"action": "join", "room": "dev"})
    clear()
    for n in range(25):
        assert (
            users.send(BOB_U, {"action": "sendmessage", "room": "dev", "data": {"n": n}})[
                "delivered"
            ]
            == 1
        )
    said = received(ADA_1)
    assert [m["data"] for m in said] == [{"n": n} for n in range(25)]
    clear()
    return said


def cursor_before(message: dict[str, Any]) -> str:
    """The `next` of a page whose oldest message is `message`."""
    return encode_cursor(message["room"], f"{message['ts']:013d}#{message['id']}")


def test_history_pages_back_through_the_rooms_messages(
    users: Stack, chatter: list[dict[str, Any]]
) -> None:
    first = users.send(ADA_1, {"action": "history", "room": "dev", "limit": 10})
    assert first == {
        "type": "history",
        "room": "dev",
        "messages": chatter[15:],
        "next": cursor_before(chatter[15]),
    }
    second = users.send(
        ADA_1, {"action": "history", "room": "dev", "limit": 10, "before": first["next"]}
    )
    assert second == {
        "type": "history",
        "room": "dev",
        "messages": chatter[5:15],
        "next": cursor_before(chatter[5]),
    }
    third = users.send(
        ADA_1, {"action": "history", "room": "dev", "limit": 10, "before": second["next"]}
    )
    assert third == {"type": "history", "room": "dev", "messages": chatter[:5], "next": None}
    assert users.send(ADA_1, {"action": "history", "room": "dev"}) == {
        "type": "history",
        "room": "dev",
        "messages": chatter,
        "next": None,
    }, "50 by default"
    assert recipients() == set(), "reading history sends nothing to anyone"


def test_history_limits(users: Stack, chatter: list[dict[str, Any]]) -> None:
    one = users.send(BOB_U, {"action": "history", "room": "dev", "limit": 1})
    assert (one["messages"], one["next"]) == (chatter[-1:], cursor_before(chatter[-1]))
    hundred = users.send(BOB_U, {"action": "history", "room": "dev", "limit": 100})
    assert (hundred["messages"], hundred["next"]) == (chatter, None)


def test_history_is_for_members_only(users: Stack, chatter: list[dict[str, Any]]) -> None:
    assert users.send(GUS, {"action": "history", "room": "dev"}) == error(
        "forbidden", 'you are not in room "dev": join it to read its history'
    )
    assert users.send(ADA_2, {"action": "history", "room": "dev"})["error"] == "forbidden", (
        "membership is per connection"
    )
    users.send(ADA_1, {"action": "leave", "room": "dev"})
    assert users.send(ADA_1, {"action": "history", "room": "dev"}) == error(
        "forbidden", 'you are not in room "dev": join it to read its history'
    )


def test_a_cursor_of_one_room_is_refused_in_another(
    users: Stack, chatter: list[dict[str, Any]]
) -> None:
    users.send(BOB_U, {"action": "sendmessage", "data": "in the lobby"})
    cursor = users.send(ADA_1, {"action": "history", "room": "dev", "limit": 2})["next"]
    assert users.send(
        ADA_1, {"action": "history", "room": "lobby", "limit": 2, "before": cursor}
    ) == error("bad_request", '"before" is not a history cursor of room "lobby"')


def test_join_answers_with_the_20_most_recent_messages(
    users: Stack, chatter: list[dict[str, Any]]
) -> None:
    # The 20 newest of 25, and the cursor `history` pages back from.
    assert users.send(GUS, {"action": "join", "room": "dev"}) == joined_reply(
        "dev", GUS, "gus", chatter[5:], cursor_before(chatter[5])
    )
    joined = users.send(ADA_2, {"action": "join", "room": "dev"})
    assert joined == {
        **user_presence("joined", "dev", ADA_2, "u-ada", "ada"),
        "messages": chatter[5:],
        "next": cursor_before(chatter[5]),
    }
    older = users.send(ADA_2, {"action": "history", "room": "dev", "before": joined["next"]})
    assert (older["messages"], older["next"]) == (chatter[:5], None), "no repeats, no gaps"
    assert users.send(ADA_2, {"action": "join", "room": "dev"})["messages"] == chatter[5:], (
        "joining again answers the same"
    )
    assert users.send(GUS, {"action": "join", "room": "quiet"})["messages"] == []


def test_with_history_off_messages_are_delivered_and_not_kept(
    users: Stack, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "0")
    runtime.reset()
    users.send(ADA_1, {"action": "join", "room": "dev"})
    assert users.send(BOB_U, {"action": "join", "room": "dev"})["messages"] == []
    before = keys()
    assert users.send(BOB_U, {"action": "sendmessage", "room": "dev", "data": 1})["delivered"] == 1
    assert keys() == before
    assert users.send(ADA_1, {"action": "history", "room": "dev"}) == {
        "type": "history",
        "room": "dev",
        "messages": [],
        "next": None,
    }


# ------------------------------------------------------------------------------ private rooms


def forbidden(room: str) -> dict[str, Any]:
    return error("forbidden", f'you may not enter room "{room}"')


def test_a_granted_user_may_join_send_list_and_read(users: Stack) -> None:
    assert users.send(ADA_1, {"action": "join", "room": "private:x"}) == {
        **user_presence("joined", "private:x", ADA_1, "u-ada", "ada"),
        "messages": [],
        "next": None,
    }
    assert users.send(ADA_2, {"action": "join", "room": "private:x"})["type"] == "joined"
    assert recipients() == set(), "ada's second connection is not news"
    sent = users.send(ADA_1, {"action": "sendmessage", "room": "private:x", "data": "secret"})
    assert (sent["room"], sent["delivered"]) == ("private:x", 1)
    [message] = received(ADA_2)
    assert message["from"] == ADA_FROM_1
    assert users.send(ADA_2, {"action": "members", "room": "private:x"}) == {
        "type": "members",
        "room": "private:x",
        "members": [{"name": "ada", "userId": "u-ada", "connections": 2}],
    }
    assert users.send(ADA_2, {"action": "history", "room": "private:x"}) == {
        "type": "history",
        "room": "private:x",
        "messages": [message],
        "next": None,
    }


@pytest.mark.parametrize("caller", [BOB_U, GUS], ids=["bob, granted another room", "gus, a guest"])
def test_others_are_forbidden_and_learn_nothing(users: Stack, items: Items, caller: str) -> None:
    """The same answer whether the room exists (ada is in it, and has spoken) or not."""
    users.send(ADA_1, {"action": "join", "room": "private:x"})
    users.send(ADA_1, {"action": "sendmessage", "room": "private:x", "data": "secret"})
    clear()
    before = items()
    for room in ("private:x", "private:nowhere"):
        for action in ("join", "members", "history"):
            message = {"action": action, "room": room, "limit": 5}
            response = users.send_raw(caller, json.dumps(message))
            assert (response["statusCode"], reply(response)) == (403, forbidden(room)), message
    assert items() == before
    assert recipients() == set()


def test_a_guest_with_the_authorizers_anonymous_context_is_forbidden_too(stack: Stack) -> None:
    stack.connect_with_context(GUS, ANONYMOUS_CONTEXT, {"name": "gus"})
    for action in ("join", "members", "history"):
        assert stack.send(GUS, {"action": action, "room": "private:x"}) == forbidden("private:x")
    assert stack.send(GUS, {"action": "join", "room": "public"})["type"] == "joined"


def test_the_grant_is_the_tokens_not_the_messages(users: Stack) -> None:
    """A client claiming rooms or identity in the message gains nothing."""
    for message in (
        {"action": "join", "room": "private:x", "rooms": ["private:x"]},
        {"action": "join", "room": "private:x", "userId": "u-ada", "anonymous": "false"},
        {"action": "members", "room": "private:x", "authorizer": {"rooms": "private:x"}},
    ):
        assert users.send(BOB_U, message) == forbidden("private:x")


def test_sending_to_a_private_room_not_joined(users: Stack) -> None:
    assert users.send(BOB_U, {"action": "sendmessage", "room": "private:x", "data": "x"}) == error(
        "forbidden", 'you are not in room "private:x": join it first'
    )
    assert users.send(BOB_U, {"action": "join", "room": "private:y"})["type"] == "joined"
    assert (
        users.send(BOB_U, {"action": "sendmessage", "room": "private:y", "data": "x"})["delivered"]
        == 0
    )


# --------------------------------------------------------------------- identity is the token's


def test_identity_fields_in_messages_are_ignored(users: Stack) -> None:
    users.send(BOB_U, {"action": "join", "room": "dev"})
    clear()
    impostor = {
        "from": {"connectionId": BOB_U, "name": "bob", "userId": "u-bob"},
        "userId": "u-bob",
        "name": "bob",
        "connectionId": BOB_U,
        "guest": True,
    }
    joined = users.send(ADA_1, {"action": "join", "room": "dev", **impostor})
    assert joined == {
        **user_presence("joined", "dev", ADA_1, "u-ada", "ada"),
        "messages": [],
        "next": None,
    }
    assert received(BOB_U) == [user_presence("joined", "dev", ADA_1, "u-ada", "ada")]
    clear()
    sent = users.send(ADA_1, {"action": "sendmessage", "room": "dev", "data": 1, **impostor})
    assert received(BOB_U)[0]["from"] == ADA_FROM_1
    users.send(ADA_1, {"action": "sendto", "to": "u-bob", "data": 2, **impostor})
    assert received(BOB_U)[1]["from"] == ADA_FROM_1
    [stored] = users.send(BOB_U, {"action": "history", "room": "dev"})["messages"]
    assert (stored["id"], stored["from"]) == (sent["id"], ADA_FROM_1)
    clear()
    users.send(GUS, {"action": "sendmessage", "data": 3, **impostor, "guest": False})
    assert received(BOB_U)[0]["from"] == guest(GUS, "gus")


# -------------------------------------------------------------------------- per-user presence


def test_a_user_joins_with_the_first_connection_and_leaves_with_the_last(users: Stack) -> None:
    users.send(BOB_U, {"action": "join", "room": "dev"})
    clear()
    users.send(ADA_1, {"action": "join", "room": "dev"})
    assert received(BOB_U) == [user_presence("joined", "dev", ADA_1, "u-ada", "ada")]
    clear()
    assert users.send(ADA_2, {"action": "join", "room": "dev"})["type"] == "joined"
    assert recipients() == set(), "ada was already there"
    assert users.send(ADA_1, {"action": "leave", "room": "dev"}) == user_presence(
        "left", "dev", ADA_1, "u-ada", "ada"
    ), "the caller is still told it left"
    assert recipients() == set(), "ada is still there on her other connection"
    users.send(ADA_2, {"action": "leave", "room": "dev"})
    assert received(BOB_U) == [user_presence("left", "dev", ADA_2, "u-ada", "ada")]
    assert recipients() == {BOB_U}


def test_guests_always_announce(users: Stack) -> None:
    users.send(BOB_U, {"action": "join", "room": "dev"})
    clear()
    users.send(GUS, {"action": "join", "room": "dev"})
    users.send(GUS, {"action": "leave", "room": "dev"})
    assert received(BOB_U) == [
        presence("joined", "dev", GUS, "gus"),
        presence("left", "dev", GUS, "gus"),
    ]
