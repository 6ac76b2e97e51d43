"""The room registry behind GET /rooms: registered by joins, listed when members remain,
forgotten once expired; and a join whose registration fails still succeeds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from switchboard import runtime
from switchboard.room_index import REGISTRY, RoomIndex
from switchboard.store import Store
from tests.support.events import connection_id
from tests.support.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

ADA, BOB = connection_id(1), connection_id(2)
Items = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def index(db: DynamoDBClient, table: str) -> RoomIndex:
    return RoomIndex(db, Store(db, table), registration_seconds=600)


def registrations(items: Items) -> dict[str, int]:
    return {
        item["SK"]["S"]: int(item["expiresAt"]["N"])
        for item in items()
        if item["PK"]["S"] == REGISTRY
    }


def test_a_registration_expires_a_connection_lifetime_after_the_last_join(
    index: RoomIndex, items: Items
) -> None:
    before = int(time.time())
    index.register("dev")
    [(key, expires)] = registrations(items).items()
    assert key == "ROOM#dev"
    assert before + 600 <= expires <= int(time.time()) + 600


def test_only_rooms_with_members_are_listed(stack: Stack, index: RoomIndex) -> None:
    stack.connect(ADA, name="ada")
    stack.connect(BOB, name="bob")
    index.register("empty")  # registered, but nobody is in it
    stack.send(ADA, {"action": "join", "room": "dev"})
    assert index.registered() == {"empty", "dev"}
    assert index.rooms() == ["dev", "lobby"]
    stack.send(ADA, {"action": "leave", "room": "lobby"})
    assert index.rooms() == ["dev", "lobby"], "bob is still in the lobby"
    stack.disconnect(BOB)
    assert index.rooms() == ["dev"]


def test_an_expired_registration_is_not_even_looked_at(
    db: DynamoDBClient, table: str, stack: Stack
) -> None:
    stack.connect(ADA, name="ada")
    stack.send(ADA, {"action": "join", "room": "dev"})
    expired = RoomIndex(db, Store(db, table), registration_seconds=-1)
    expired.register("dev")  # the last join's registration, now in the past
    assert expired.registered() == set()
    assert expired.rooms() == ["lobby"]


def test_registrations_are_read_page_by_page(db: DynamoDBClient, table: str) -> None:
    paged = RoomIndex(db, Store(db, table), registration_seconds=600, query_page_size=4)
    rooms = {f"room-{n:02d}" for n in range(11)}
    for room in rooms:
        paged.register(room)
    assert paged.registered() == rooms


def test_a_join_registers_its_room_once_joined(stack: Stack, items: Items) -> None:
    stack.connect(ADA, name="ada")
    assert registrations(items) == {}, "$connect's lobby is not registered: always looked at"
    stack.send(ADA, {"action": "join", "room": "dev"})
    assert set(registrations(items)) == {"ROOM#dev"}


def test_a_failed_registration_does_not_fail_the_join(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, items: Items
) -> None:
    stack.connect(ADA, name="ada")

    def unavailable(room: str) -> None:
        raise RuntimeError("throttled")

    monkeypatch.setattr(runtime.current().room_index, "register", unavailable)
    reply = stack.send(ADA, {"action": "join", "room": "dev"})
    assert reply["type"] == "joined"
    assert ("ROOM#dev", f"CONN#{ADA}") in {(i["PK"]["S"], i["SK"]["S"]) for i in items()}
    assert registrations(items) == {}
