"""send_to_room and send_to_user: what is delivered, what is stored, and when storing fails."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError as BotoClientError

from switchboard.broadcast import Broadcaster, FanoutResult
from switchboard.config import Config
from switchboard.errors import BadRequest
from switchboard.history import JOIN_HISTORY, History
from switchboard.messaging import send_to_room, send_to_user
from switchboard.protocol import MAX_POST_BYTES
from switchboard.runtime import Runtime
from switchboard.store import Connection
from tests.support.events import connection_id
from tests.support.management_api import received, recipients
from tests.unit.conftest import MANAGEMENT_ENDPOINT

Keys = Callable[[], set[tuple[str, str]]]
ADA_1, ADA_2, ADA_3, BOB, CY = (connection_id(n) for n in (1, 2, 3, 4, 5))
#: Long enough for a slow CI machine, short enough that a sequential send fails quickly.
OVERLAP_SECONDS = 5


def connection(cid: str, user_id: str, name: str, rooms: frozenset[str]) -> Connection:
    return Connection(
        connection_id=cid,
        name=name,
        connected_at=1795830432345,
        expires_at=1795837932,
        user_id=user_id,
        rooms=rooms,
    )


@pytest.fixture
def rt(table: str) -> Runtime:
    """ada on three connections (two in dev), bob in dev, cy elsewhere."""
    rt = Runtime(Config.from_env())
    for cid, user, name, rooms in (
        (ADA_1, "u-ada", "ada", {"lobby", "dev"}),
        (ADA_2, "u-ada", "ada", {"lobby", "dev"}),
        (ADA_3, "u-ada", "ada", {"lobby"}),
        (BOB, "u-bob", "bob", {"lobby", "dev"}),
        (CY, "u-cy", "cy", {"lobby"}),
    ):
        rt.store.add_connection(connection(cid, user, name, frozenset(rooms)))
    return rt


def bob_says(rt: Runtime) -> dict[str, Any]:
    return rt.store.require_connection(BOB).sender()


def test_a_room_message_is_delivered_and_stored(rt: Runtime, keys: Keys) -> None:
    sent = send_to_room(rt, MANAGEMENT_ENDPOINT, "dev", bob_says(rt), {"text": "hi"}, exclude=BOB)
    assert sent.result == FanoutResult(delivered=2)
    assert sent.stored is True
    assert re.fullmatch(r"[0-9a-f]{32}", sent.id)
    expected = {
        "type": "message",
        "room": "dev",
        "from": {"connectionId": BOB, "name": "bob", "userId": "u-bob"},
        "data": {"text": "hi"},
        "id": sent.id,
        "ts": sent.message["ts"],
    }
    assert sent.message == expected
    assert received(ADA_1) == received(ADA_2) == [expected]
    assert recipients() == {ADA_1, ADA_2}
    assert ("MSG#dev", f"{expected['ts']:013d}#{sent.id}") in keys()
    assert rt.history.page("dev", JOIN_HISTORY).messages == [expected]


def test_history_is_stored_while_the_fan_out_runs(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each side waits for the other to have started: done one after the other, both time out."""
    storing, fanning_out = threading.Event(), threading.Event()
    overlapped: dict[str, bool] = {}
    append, to_room = History.append, Broadcaster.to_room

    def append_meeting_the_fan_out(self: History, message: dict[str, Any]) -> None:
        storing.set()
        overlapped["storing saw the fan-out"] = fanning_out.wait(OVERLAP_SECONDS)
        append(self, message)

    def to_room_meeting_the_store(
        self: Broadcaster, room: str, payload: bytes, **kwargs: Any
    ) -> FanoutResult:
        fanning_out.set()
        overlapped["fan-out saw the storing"] = storing.wait(OVERLAP_SECONDS)
        return to_room(self, room, payload, **kwargs)

    monkeypatch.setattr(History, "append", append_meeting_the_fan_out)
    monkeypatch.setattr(Broadcaster, "to_room", to_room_meeting_the_store)
    sent = send_to_room(rt, MANAGEMENT_ENDPOINT, "dev", bob_says(rt), "hi", exclude=BOB)
    assert overlapped == {"storing saw the fan-out": True, "fan-out saw the storing": True}
    assert (sent.result, sent.stored) == (FanoutResult(delivered=2), True)
    assert [m["id"] for m in rt.history.page("dev", JOIN_HISTORY).messages] == [sent.id]


def test_a_failed_history_write_still_delivers_and_says_not_stored(
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    keys: Keys,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    def throttled(self: History, message: dict[str, Any]) -> None:
        raise BotoClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "PutItem",
        )

    monkeypatch.setattr(History, "append", throttled)
    before = keys()
    sent = send_to_room(rt, MANAGEMENT_ENDPOINT, "dev", bob_says(rt), "hi", exclude=BOB)
    assert (sent.result, sent.stored) == (FanoutResult(delivered=2), False)
    assert received(ADA_1) == received(ADA_2) == [sent.message]
    assert keys() == before
    [failure] = [line for line in log_lines() if line["logger"] == "switchboard.messaging"]
    assert (failure["level"], failure["message"], failure["room"]) == (
        "ERROR",
        "could not store the message in history",
        "dev",
    )
    assert "ProvisionedThroughputExceededException" in failure["exception"]


def test_with_history_off_nothing_is_stored(
    table: str, monkeypatch: pytest.MonkeyPatch, keys: Keys
) -> None:
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "0")
    rt = Runtime(Config.from_env())
    rt.store.add_connection(connection(ADA_1, "u-ada", "ada", frozenset({"dev"})))
    rt.store.add_connection(connection(BOB, "u-bob", "bob", frozenset({"dev"})))
    before = keys()
    sent = send_to_room(rt, MANAGEMENT_ENDPOINT, "dev", bob_says(rt), "hi", exclude=BOB)
    assert (sent.result, sent.stored) == (FanoutResult(delivered=1), False)
    assert keys() == before


def test_a_message_too_large_to_post_is_neither_sent_nor_stored(rt: Runtime, keys: Keys) -> None:
    before = keys()
    with pytest.raises(BadRequest, match="too large"):
        send_to_room(rt, MANAGEMENT_ENDPOINT, "dev", bob_says(rt), "x" * MAX_POST_BYTES)
    assert keys() == before
    assert recipients() == set()


def test_a_backend_sender_reaches_every_member(rt: Runtime) -> None:
    service = {"name": "deploy-bot", "userId": "svc:deploy"}
    sent = send_to_room(rt, MANAGEMENT_ENDPOINT, "dev", service, "deployed")
    assert sent.result == FanoutResult(delivered=3)
    assert recipients() == {ADA_1, ADA_2, BOB}
    assert received(BOB) == [sent.message]
    assert rt.history.page("dev", JOIN_HISTORY).messages == [sent.message], (
        "history shows what was delivered"
    )
    assert sent.message["from"] == service


# ------------------------------------------------------------------------------ send_to_user


def test_a_direct_message_reaches_every_connection_of_the_user(rt: Runtime, keys: Keys) -> None:
    before = keys()
    sent, count = send_to_user(
        rt, MANAGEMENT_ENDPOINT, "u-ada", bob_says(rt), {"text": "psst"}, exclude=BOB
    )
    assert count == 3
    assert (sent.result, sent.stored) == (FanoutResult(delivered=3), False)
    expected = {
        "type": "direct",
        "from": {"connectionId": BOB, "name": "bob", "userId": "u-bob"},
        "to": "u-ada",
        "data": {"text": "psst"},
        "id": sent.id,
        "ts": sent.message["ts"],
    }
    assert sent.message == expected
    assert received(ADA_1) == received(ADA_2) == received(ADA_3) == [expected]
    assert recipients() == {ADA_1, ADA_2, ADA_3}
    assert keys() == before, "direct messages are not kept"


def test_a_direct_message_to_oneself_skips_the_sending_connection(rt: Runtime) -> None:
    ada = rt.store.require_connection(ADA_2).sender()
    sent, count = send_to_user(rt, MANAGEMENT_ENDPOINT, "u-ada", ada, "note", exclude=ADA_2)
    assert (count, sent.result) == (2, FanoutResult(delivered=2))
    assert recipients() == {ADA_1, ADA_3}


def test_a_direct_message_to_nobody(rt: Runtime) -> None:
    for user in ("u-nobody", "u-ad", "u-ada-2", "U-ADA"):
        sent, count = send_to_user(rt, MANAGEMENT_ENDPOINT, user, bob_says(rt), "x", exclude=BOB)
        assert (count, sent.result, sent.stored) == (0, FanoutResult(), False)
    assert recipients() == set()


def test_a_direct_message_to_a_user_whose_only_connection_sends_it(rt: Runtime) -> None:
    sent, count = send_to_user(rt, MANAGEMENT_ENDPOINT, "u-bob", bob_says(rt), "x", exclude=BOB)
    assert (count, sent.result) == (0, FanoutResult())
    assert recipients() == set()


def test_a_send_whose_fan_out_fails_is_not_kept_in_history(
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    keys: Keys,
) -> None:
    # The caller is told it failed (the WebSocket's Internal server error, the HTTP API's
    # 500) and may send it again: a copy left in history would then be there twice.
    stored = threading.Event()
    append = History.append

    def append_then_say_so(self: History, message: dict[str, Any]) -> None:
        append(self, message)
        stored.set()

    def members_unreadable(self: Any, room: str) -> Any:
        assert stored.wait(OVERLAP_SECONDS)  # the failure comes after the copy was written
        raise BotoClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
            "Query",
        )

    monkeypatch.setattr(History, "append", append_then_say_so)
    monkeypatch.setattr("switchboard.store.Store.room_connection_pages", members_unreadable)
    before = keys()
    with pytest.raises(BotoClientError):
        send_to_room(rt, MANAGEMENT_ENDPOINT, "dev", bob_says(rt), "hi", exclude=BOB)
    assert keys() == before
    assert rt.history.page("dev", JOIN_HISTORY).messages == []
