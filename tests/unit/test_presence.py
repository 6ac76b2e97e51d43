"""`joined` / `left` events and their announcement to the room's other members, per user."""

from __future__ import annotations

import boto3
import pytest

from switchboard.broadcast import FanoutResult
from switchboard.config import Config
from switchboard.presence import announce, announce_if_first_or_last, presence_event
from switchboard.runtime import Runtime
from switchboard.store import Connection, membership_key
from tests.support.events import connection_id
from tests.support.management_api import received, recipients
from tests.unit.conftest import MANAGEMENT_ENDPOINT

ADA = Connection(connection_id=connection_id(1), name="ada", connected_at=1, expires_at=2)


@pytest.mark.parametrize("kind", ["joined", "left"])
def test_presence_event_of_a_connection_without_a_user_is_a_guests(kind: str) -> None:
    assert presence_event(kind, "dev", ADA) == {  # type: ignore[arg-type]
        "type": kind,
        "room": "dev",
        "name": "ada",
        "connectionId": ADA.connection_id,
        "guest": True,
    }


@pytest.mark.parametrize("kind", ["joined", "left"])
def test_presence_event_of_a_user(kind: str) -> None:
    who = Connection(connection_id="c", name="bob", connected_at=1, expires_at=2, user_id="u-7")
    assert presence_event(kind, "dev", who) == {  # type: ignore[arg-type]
        "type": kind,
        "room": "dev",
        "name": "bob",
        "connectionId": "c",
        "userId": "u-7",
    }


def test_presence_event_of_a_guest() -> None:
    who = Connection(
        connection_id="c", name="guest-1", connected_at=1, expires_at=2, user_id="guest:c"
    )
    assert presence_event("joined", "dev", who) == {
        "type": "joined",
        "room": "dev",
        "name": "guest-1",
        "connectionId": "c",
        "userId": "guest:c",
        "guest": True,
    }


def test_announce_tells_the_other_members_only(table: str) -> None:
    runtime = Runtime(Config.from_env())
    bob = Connection(
        connection_id=connection_id(2),
        name="bob",
        connected_at=1,
        expires_at=2,
        rooms=frozenset({"dev"}),
    )
    runtime.store.add_connection(bob)
    runtime.store.add_connection(
        Connection(
            connection_id=ADA.connection_id,
            name="ada",
            connected_at=1,
            expires_at=2,
            rooms=frozenset({"dev"}),
        )
    )
    result = announce(runtime.broadcaster(MANAGEMENT_ENDPOINT), "left", "dev", ADA)
    assert result == FanoutResult(delivered=1)
    assert received(bob.connection_id) == [
        {
            "type": "left",
            "room": "dev",
            "name": "ada",
            "connectionId": ADA.connection_id,
            "guest": True,
        }
    ]
    assert recipients() == {bob.connection_id}


# --------------------------------------------------------------------------- per-user presence

ADA_1, ADA_2, BOB = connection_id(11), connection_id(12), connection_id(13)


def member(cid: str, user_id: str, name: str, rooms: set[str]) -> Connection:
    return Connection(
        connection_id=cid,
        name=name,
        connected_at=1,
        expires_at=2,
        user_id=user_id,
        rooms=frozenset(rooms),
    )


@pytest.fixture
def rt(table: str) -> Runtime:
    """bob in dev; ada's first connection in the lobby only."""
    rt = Runtime(Config.from_env())
    rt.store.add_connection(member(BOB, "u-bob", "bob", {"dev"}))
    rt.store.add_connection(member(ADA_1, "u-ada", "ada", {"lobby"}))
    return rt


def announce_for(rt: Runtime, kind: str, room: str, cid: str) -> FanoutResult | None:
    broadcaster = rt.broadcaster(MANAGEMENT_ENDPOINT)
    who = rt.store.require_connection(cid)
    return announce_if_first_or_last(rt.store, broadcaster, kind, room, who)  # type: ignore[arg-type]


def test_a_users_first_connection_in_a_room_announces_it(rt: Runtime) -> None:
    rt.store.join_room(rt.store.require_connection(ADA_1), "dev")
    assert announce_for(rt, "joined", "dev", ADA_1) == FanoutResult(delivered=1)
    assert received(BOB) == [
        {"type": "joined", "room": "dev", "name": "ada", "connectionId": ADA_1, "userId": "u-ada"}
    ]


def test_a_second_connection_of_the_user_announces_nothing(rt: Runtime) -> None:
    rt.store.join_room(rt.store.require_connection(ADA_1), "dev")
    rt.store.add_connection(member(ADA_2, "u-ada", "ada", {"lobby", "dev"}))
    assert announce_for(rt, "joined", "dev", ADA_2) is None
    assert announce_for(rt, "left", "dev", ADA_1) is None, "ada is still there on ADA_2"
    assert recipients() == set()


def test_the_users_last_connection_to_leave_announces_it(rt: Runtime) -> None:
    rt.store.add_connection(member(ADA_2, "u-ada", "ada", {"lobby", "dev"}))
    # ADA_1 is in the lobby only: ADA_2 is ada's last connection in dev.
    assert announce_for(rt, "left", "dev", ADA_2) == FanoutResult(delivered=1)
    assert received(BOB) == [
        {"type": "left", "room": "dev", "name": "ada", "connectionId": ADA_2, "userId": "u-ada"}
    ]


def test_guests_always_announce(rt: Runtime) -> None:
    """A guest is its own user; even a (forged) shared guest id does not silence it."""
    guest_id = f"guest:{ADA_2}"
    rt.store.add_connection(member(ADA_2, guest_id, "guest-1", {"dev"}))
    rt.store.add_connection(member(connection_id(14), guest_id, "guest-1", {"dev"}))
    assert announce_for(rt, "joined", "dev", ADA_2) == FanoutResult(delivered=2)
    assert received(BOB) == [
        {
            "type": "joined",
            "room": "dev",
            "name": "guest-1",
            "connectionId": ADA_2,
            "userId": guest_id,
            "guest": True,
        }
    ]


def joined_for(rt: Runtime, cid: str, joined_at: int) -> FanoutResult | None:
    broadcaster = rt.broadcaster(MANAGEMENT_ENDPOINT)
    who = rt.store.require_connection(cid)
    return announce_if_first_or_last(
        rt.store, broadcaster, "joined", "dev", who, joined_at=joined_at
    )


def test_of_two_connections_joining_at_once_the_first_announces_and_only_it(
    rt: Runtime,
) -> None:
    # Both memberships are written before either checks (two invocations side by side):
    # each sees the other, so "is another connection here?" kept both quiet.
    rt.store.add_connection(member(ADA_2, "u-ada", "ada", {"lobby"}))
    rt.store.join_room(rt.store.require_connection(ADA_1), "dev", joined_at=1_000)
    rt.store.join_room(rt.store.require_connection(ADA_2), "dev", joined_at=1_001)

    assert joined_for(rt, ADA_2, 1_001) is None
    assert joined_for(rt, ADA_1, 1_000) == FanoutResult(delivered=2)  # bob and ADA_2
    assert [event["connectionId"] for event in received(BOB)] == [ADA_1]


def test_in_the_same_millisecond_the_lower_connection_id_is_first(rt: Runtime) -> None:
    rt.store.add_connection(member(ADA_2, "u-ada", "ada", {"lobby"}))
    for cid in (ADA_1, ADA_2):
        rt.store.join_room(rt.store.require_connection(cid), "dev", joined_at=5_000)
    first, second = sorted([ADA_1, ADA_2])

    assert joined_for(rt, second, 5_000) is None
    assert joined_for(rt, first, 5_000) == FanoutResult(delivered=2)


def test_a_membership_without_a_join_stamp_counts_as_the_earliest(rt: Runtime) -> None:
    # Written before memberships carried joinedAt: it was there first.
    rt.store.join_room(rt.store.require_connection(ADA_1), "dev")
    boto3.client("dynamodb").update_item(
        TableName=rt.store.table_name,
        Key=membership_key("dev", ADA_1),
        UpdateExpression="REMOVE joinedAt",
    )
    rt.store.add_connection(member(ADA_2, "u-ada", "ada", {"lobby"}))
    rt.store.join_room(rt.store.require_connection(ADA_2), "dev", joined_at=1)

    assert joined_for(rt, ADA_2, 1) is None
