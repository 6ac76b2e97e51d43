"""The DynamoDB store: items and keys, idempotent membership, atomic removal, paged Queries."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError as BotoClientError

from switchboard.errors import BadRequest, ConnectionGone
from switchboard.protocol import MAX_ROOMS_PER_CONNECTION
from switchboard.store import Connection, Store, connection_key, membership_key
from tests.support.events import connection_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Keys = Callable[[], set[tuple[str, str]]]
Items = Callable[[], list[dict[str, Any]]]
ADA = connection_id(1)
BOB = connection_id(2)
CONNECTED_AT = 1795830432345
TTL = 7500


def connection(cid: str = ADA, rooms: frozenset[str] = frozenset({"lobby"})) -> Connection:
    return Connection(
        connection_id=cid,
        name="ada",
        connected_at=CONNECTED_AT,
        expires_at=CONNECTED_AT // 1000 + TTL,
        source_ip="198.51.100.23",
        user_agent="test-agent",
        rooms=rooms,
    )


@pytest.fixture
def store(db: DynamoDBClient, table: str) -> Store:
    return Store(db, table)


def test_keys() -> None:
    assert connection_key("c=") == {"PK": {"S": "CONN#c="}, "SK": {"S": "META"}}
    assert membership_key("dev", "c=") == {"PK": {"S": "ROOM#dev"}, "SK": {"S": "CONN#c="}}


def test_connection_item_round_trip() -> None:
    original = Connection(
        connection_id=ADA,
        name="ada",
        connected_at=CONNECTED_AT,
        expires_at=1,
        user_id="u-1",
        source_ip="10.0.0.1",
        user_agent="ua",
        rooms=frozenset({"a", "b"}),
        version=3,
    )
    item = original.to_item()
    assert item["rooms"] == {"SS": ["a", "b"]}
    assert item["v"] == {"N": "3"}
    assert Connection.from_item(item) == original


def test_connection_item_leaves_out_empty_optionals() -> None:
    item = Connection(connection_id=ADA, name="ada", connected_at=1, expires_at=2).to_item()
    assert set(item) == {"PK", "SK", "connectionId", "name", "connectedAt", "expiresAt", "v"}
    assert Connection.from_item(item).rooms == frozenset()


def test_add_connection_writes_the_record_and_its_rooms(store: Store, items: Items) -> None:
    store.add_connection(connection(rooms=frozenset({"lobby", "dev"})))
    by_key = {(i["PK"]["S"], i["SK"]["S"]): i for i in items()}
    assert set(by_key) == {
        (f"CONN#{ADA}", "META"),
        ("ROOM#lobby", f"CONN#{ADA}"),
        ("ROOM#dev", f"CONN#{ADA}"),
    }
    assert by_key[("ROOM#dev", f"CONN#{ADA}")] == {
        "PK": {"S": "ROOM#dev"},
        "SK": {"S": f"CONN#{ADA}"},
        "connectionId": {"S": ADA},
        "name": {"S": "ada"},
        "expiresAt": {"N": str(CONNECTED_AT // 1000 + TTL)},
    }
    assert store.get_connection(ADA) == connection(rooms=frozenset({"lobby", "dev"}))


def test_every_item_expires_in_epoch_seconds(store: Store, items: Items) -> None:
    store.add_connection(connection())
    store.join_room(store.require_connection(ADA), "dev")
    expiring = items()
    assert len(expiring) == 3
    for item in expiring:
        assert int(item["expiresAt"]["N"]) == CONNECTED_AT // 1000 + TTL
        assert len(item["expiresAt"]["N"]) == 10, "seconds, not milliseconds"


def test_add_connection_twice_is_refused_and_changes_nothing(store: Store, items: Items) -> None:
    store.add_connection(connection())
    before = items()
    with pytest.raises(BotoClientError) as raised:
        store.add_connection(connection(rooms=frozenset({"lobby", "other"})))
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert sorted(map(str, items())) == sorted(map(str, before))


def test_get_and_require_a_missing_connection(store: Store) -> None:
    assert store.get_connection(ADA) is None
    with pytest.raises(ConnectionGone) as raised:
        store.require_connection(ADA)
    assert raised.value.code == "not_connected"
    assert str(raised.value) == (
        f"connection {ADA} is no longer registered (closed, expired or pruned): reconnect"
    )


def test_join_is_idempotent(store: Store, keys: Keys) -> None:
    store.add_connection(connection())
    assert store.join_room(store.require_connection(ADA), "dev") is True
    joined = store.require_connection(ADA)
    assert joined.rooms == {"lobby", "dev"}
    assert joined.version == 1
    assert store.join_room(joined, "dev") is False
    assert store.require_connection(ADA).version == 1
    assert ("ROOM#dev", f"CONN#{ADA}") in keys()


def test_join_with_a_stale_copy_rereads_and_keeps_both_rooms(store: Store, keys: Keys) -> None:
    store.add_connection(connection())
    stale = store.require_connection(ADA)
    assert store.join_room(stale, "dev") is True
    assert store.join_room(stale, "ops") is True  # stale version: re-read, then joined
    assert store.require_connection(ADA).rooms == {"lobby", "dev", "ops"}
    assert {("ROOM#dev", f"CONN#{ADA}"), ("ROOM#ops", f"CONN#{ADA}")} <= keys()


def test_join_with_a_stale_copy_that_already_joined_is_false(store: Store) -> None:
    store.add_connection(connection())
    stale = store.require_connection(ADA)
    store.join_room(stale, "dev")
    store.join_room(store.require_connection(ADA), "ops")
    assert store.join_room(stale, "dev") is False


def test_room_cap(store: Store, keys: Keys) -> None:
    store.add_connection(connection())
    for number in range(MAX_ROOMS_PER_CONNECTION - 1):
        assert store.join_room(store.require_connection(ADA), f"room-{number}")
    full = store.require_connection(ADA)
    assert len(full.rooms) == MAX_ROOMS_PER_CONNECTION == 50
    with pytest.raises(BadRequest) as raised:
        store.join_room(full, "one-too-many")
    assert str(raised.value) == "a connection may be in at most 50 rooms; leave one first"
    assert ("ROOM#one-too-many", f"CONN#{ADA}") not in keys()
    assert store.join_room(full, "room-0") is False, "re-joining a room is not a new room"
    removed = store.remove_connection(ADA)
    assert removed is not None and len(removed.rooms) == 50
    assert keys() == set(), "all 50 memberships go in the one removal transaction"


def test_leave_is_idempotent(store: Store, keys: Keys) -> None:
    store.add_connection(connection())
    store.join_room(store.require_connection(ADA), "dev")
    assert store.leave_room(store.require_connection(ADA), "dev") is True
    assert store.leave_room(store.require_connection(ADA), "dev") is False
    assert store.require_connection(ADA).rooms == {"lobby"}
    assert ("ROOM#dev", f"CONN#{ADA}") not in keys()


def test_leave_the_last_room(store: Store, keys: Keys) -> None:
    store.add_connection(connection())
    assert store.leave_room(store.require_connection(ADA), "lobby") is True
    assert store.require_connection(ADA).rooms == frozenset()
    assert keys() == {(f"CONN#{ADA}", "META")}


def test_leave_with_a_stale_copy(store: Store, keys: Keys) -> None:
    store.add_connection(connection())
    stale = store.require_connection(ADA)
    store.join_room(stale, "dev")
    assert store.leave_room(stale, "lobby") is True
    assert store.require_connection(ADA).rooms == {"dev"}
    assert keys() == {(f"CONN#{ADA}", "META"), ("ROOM#dev", f"CONN#{ADA}")}


def test_join_and_leave_of_a_removed_connection(store: Store, keys: Keys) -> None:
    store.add_connection(connection())
    stale = store.require_connection(ADA)
    store.remove_connection(ADA)
    with pytest.raises(ConnectionGone):
        store.join_room(stale, "dev")
    with pytest.raises(ConnectionGone):
        store.leave_room(stale, "lobby")
    assert keys() == set(), "no orphaned membership"


def test_remove_connection_is_idempotent(store: Store, keys: Keys) -> None:
    store.add_connection(connection())
    store.add_connection(connection(BOB))
    store.join_room(store.require_connection(ADA), "dev")
    removed = store.remove_connection(ADA)
    assert removed is not None and removed.rooms == {"lobby", "dev"}
    assert store.remove_connection(ADA) is None
    assert keys() == {(f"CONN#{BOB}", "META"), ("ROOM#lobby", f"CONN#{BOB}")}


def test_join_landing_between_removals_read_and_write_is_removed_too(
    store: Store, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """remove reads {lobby}; a join of dev commits; remove's conditional delete must retry."""
    store.add_connection(connection())
    read = store.get_connection
    reads = 0

    def read_then_join(cid: str) -> Connection | None:
        nonlocal reads
        reads += 1
        found = read(cid)
        if reads == 1 and found is not None:
            assert store.join_room(found, "dev")
        return found

    monkeypatch.setattr(store, "get_connection", read_then_join)
    removed = store.remove_connection(ADA)
    assert reads == 2, "the version check failed once and the removal re-read"
    assert removed is not None and removed.rooms == {"lobby", "dev"}
    assert keys() == set()


def test_remove_gives_up_when_the_record_keeps_changing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_connection(connection())
    read = store.get_connection
    rooms = iter(range(100))

    def read_then_join(cid: str) -> Connection | None:
        found = read(cid)
        if found is not None:
            store.join_room(found, f"r{next(rooms)}")
        return found

    monkeypatch.setattr(store, "get_connection", read_then_join)
    with pytest.raises(
        RuntimeError, match=f"^connection {re.escape(ADA)} kept changing; gave up after 5 tries$"
    ):
        store.remove_connection(ADA)


def test_other_write_errors_are_not_mistaken_for_conflicts(
    db: DynamoDBClient, store: Store
) -> None:
    store.add_connection(connection())
    db.delete_table(TableName=store.table_name)
    with pytest.raises(BotoClientError) as raised:
        store.join_room(connection(), "dev")
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_room_pages_follow_last_evaluated_key(db: DynamoDBClient, table: str) -> None:
    store = Store(db, table, query_page_size=3)
    members = [connection_id(n) for n in range(10, 18)]
    for cid in members:
        store.add_connection(connection(cid, rooms=frozenset({"big"})))
    store.add_connection(connection(BOB, rooms=frozenset({"big-other", "lobby"})))
    pages = list(store.room_connection_pages("big"))
    assert [len(page) for page in pages] == [3, 3, 2]
    assert sorted(cid for page in pages for cid in page) == sorted(members)


def test_room_pages_of_an_empty_room(store: Store) -> None:
    assert list(store.room_connection_pages("nobody-here")) == [[]]
