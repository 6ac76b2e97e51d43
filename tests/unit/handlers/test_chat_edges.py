"""Edge cases of the chat function found in review: each test fails without its fix."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from switchboard import runtime
from switchboard.history import JOIN_HISTORY
from switchboard.protocol import MAX_POST_BYTES, MAX_ROOM_MESSAGE_BYTES, encode
from switchboard.store import Store
from tests.support.events import connection_id
from tests.support.management_api import received
from tests.support.stack import Stack, reply

ADA = connection_id(1)
BOB = connection_id(2)


def test_members_needs_a_registered_connection(stack: Stack) -> None:
    stack.connect(ADA)
    stack.connect(BOB)
    runtime.current().store.remove_connection(ADA)
    answer = stack.send(ADA, {"action": "members", "room": "lobby"})
    assert answer["type"] == "error"
    assert answer["error"] == "not_connected"


def test_sendto_yourself_without_another_connection_says_so(stack: Stack) -> None:
    stack.connect_as(ADA, "ada", "Ada")
    answer = stack.send(ADA, {"action": "sendto", "to": "ada", "data": "note to self"})
    assert answer == {
        "type": "error",
        "error": "not_found",
        "message": "you have no other connection to send to",
    }


def test_join_survives_an_unreadable_history(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.connect(ADA)
    stack.connect(BOB)
    stack.send(BOB, {"action": "join", "room": "dev"})
    stack.send(BOB, {"action": "sendmessage", "room": "dev", "data": "kept"})

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("history table unreachable")

    # The join reads its messages as a history page: that read fails.
    monkeypatch.setattr(runtime.current().history, "page", broken)
    answer = stack.send(ADA, {"action": "join", "room": "dev"})
    assert answer["type"] == "joined"
    assert (answer["messages"], answer["next"]) == ([], None)
    assert "dev" in runtime.current().store.require_connection(ADA).rooms


@pytest.mark.parametrize("number", ["1e400", "-1e999", "1.8e308"])
@pytest.mark.parametrize("action", ["sendmessage", "sendto"])
def test_numbers_too_large_for_a_float_are_refused_and_nothing_is_sent_or_stored(
    stack: Stack, number: str, action: str
) -> None:
    stack.connect_as(ADA, "ada", "Ada")
    stack.connect_as(BOB, "bob", "Bob")
    before = received(BOB)
    body = f'{{"action": "{action}", "room": "lobby", "to": "bob", "data": [1, {number}]}}'

    answer = reply(stack.send_raw(ADA, body))

    assert answer["error"] == "bad_request"
    assert answer["message"].startswith(f"the number {number} is too large")
    assert received(BOB) == before
    assert runtime.current().history.page("lobby", JOIN_HISTORY).messages == []


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(stack: Stack, constant: str) -> None:
    stack.connect(ADA)
    body = '{"action": "sendmessage", "data": ' + constant + "}"
    response = stack.send_raw(ADA, body)
    answer = reply(response)
    assert answer["error"] == "invalid_json"
    assert json.loads(json.dumps(answer)) == answer


def test_two_connections_of_a_user_joining_at_once_announce_it_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher, first, second = connection_id(7), connection_id(8), connection_id(9)
    stack.connect(watcher, "watcher")
    stack.send(watcher, {"action": "join", "room": "ops"})
    stack.connect_as(first, "u-ann", "ann")
    stack.connect_as(second, "u-ann", "ann")
    # Two invocations side by side: both memberships are written before either checks.
    both_written = threading.Barrier(2, timeout=10)
    join_room = Store.join_room

    def join_then_wait(self: Store, *args: Any, **kwargs: Any) -> bool:
        joined = join_room(self, *args, **kwargs)
        both_written.wait()
        return joined

    monkeypatch.setattr(Store, "join_room", join_then_wait)
    threads = [
        threading.Thread(target=stack.send, args=(cid, {"action": "join", "room": "ops"}))
        for cid in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    joined = [m for m in received(watcher) if m["type"] == "joined" and m["room"] == "ops"]
    assert len(joined) == 1, joined


def test_the_largest_room_message_still_fits_a_join_reply_and_a_history_page(
    stack: Stack,
) -> None:
    stack.connect_as(ADA, "ada", "Ada")
    probe = stack.send(ADA, {"action": "sendmessage", "room": "lobby", "data": ""})
    assert probe["type"] == "sent"
    envelope = len(encode(runtime.current().history.page("lobby", JOIN_HISTORY).messages[-1]))
    # One POST could carry more, but its history page or join reply then could not.
    at_the_post_limit = "x" * (MAX_POST_BYTES - envelope)
    refused = stack.send(ADA, {"action": "sendmessage", "room": "lobby", "data": at_the_post_limit})
    assert refused["error"] == "bad_request"
    largest = "x" * (MAX_ROOM_MESSAGE_BYTES - envelope)
    assert (
        stack.send(ADA, {"action": "sendmessage", "room": "lobby", "data": largest})["type"]
        == "sent"
    )

    stack.connect_as(BOB, "bob", "Bob")
    for reply_to in (
        stack.send_raw(BOB, json.dumps({"action": "join", "room": "lobby"})),
        stack.send_raw(BOB, json.dumps({"action": "history", "room": "lobby"})),
    ):
        answer = reply(reply_to)
        assert answer["messages"][-1]["data"] == largest
        assert len(reply_to["body"].encode()) <= MAX_POST_BYTES, answer["type"]


def test_a_join_racing_its_own_disconnect_leaves_the_room_told_it_left(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client joins and closes at once: its $disconnect runs (and announces `left`)
    # between the join's write and its `joined`.
    watcher = connection_id(7)
    stack.connect(watcher, "watcher")
    stack.send(watcher, {"action": "join", "room": "ops"})
    stack.connect_as(ADA, "u-ada", "ada")
    join_room = Store.join_room

    def join_then_disconnect(self: Store, *args: Any, **kwargs: Any) -> bool:
        joined = join_room(self, *args, **kwargs)
        stack.disconnect(ADA)
        return joined

    monkeypatch.setattr(Store, "join_room", join_then_disconnect)
    stack.send(ADA, {"action": "join", "room": "ops"})

    about_ada = [m["type"] for m in received(watcher) if m.get("connectionId") == ADA]
    assert about_ada[-1] == "left", about_ada
    assert runtime.current().store.room_members("ops")[0].name == "watcher"
    assert len(runtime.current().store.room_members("ops")) == 1
