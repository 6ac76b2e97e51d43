"""The DynamoDB store: items and keys, idempotent membership, atomic removal, paged Queries."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError as BotoClientError

from switchboard import store as store_module
from switchboard.errors import BadRequest, ConnectionGone
from switchboard.protocol import MAX_ROOMS_PER_CONNECTION
from switchboard.store import (
    Connection,
    Member,
    Store,
    connection_key,
    membership_key,
    user_key,
)
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
        recorded_at=CONNECTED_AT + 40,
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
        # No recordedAt on this record: its initial rooms were joined when it connected.
        "joinedAt": {"N": str(CONNECTED_AT)},
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


# ------------------------------------------------------------------------------- user index


def user_connection(
    cid: str, user_id: str | None, name: str = "ada", rooms: frozenset[str] = frozenset({"lobby"})
) -> Connection:
    return Connection(
        connection_id=cid,
        name=name,
        connected_at=CONNECTED_AT,
        expires_at=CONNECTED_AT // 1000 + TTL,
        user_id=user_id,
        rooms=rooms,
    )


def test_user_key() -> None:
    assert user_key("u-1", "c=") == {"PK": {"S": "USER#u-1"}, "SK": {"S": "CONN#c="}}


def test_the_user_index_is_written_with_the_connection(store: Store, items: Items) -> None:
    store.add_connection(user_connection(ADA, "u-ada"))
    by_key = {(i["PK"]["S"], i["SK"]["S"]): i for i in items()}
    assert set(by_key) == {
        (f"CONN#{ADA}", "META"),
        ("ROOM#lobby", f"CONN#{ADA}"),
        ("USER#u-ada", f"CONN#{ADA}"),
    }
    assert by_key[("USER#u-ada", f"CONN#{ADA}")] == {
        "PK": {"S": "USER#u-ada"},
        "SK": {"S": f"CONN#{ADA}"},
        "connectionId": {"S": ADA},
        "name": {"S": "ada"},
        "expiresAt": {"N": str(CONNECTED_AT // 1000 + TTL)},
    }
    assert by_key[("ROOM#lobby", f"CONN#{ADA}")]["userId"] == {"S": "u-ada"}
    assert by_key[(f"CONN#{ADA}", "META")]["userId"] == {"S": "u-ada"}


def test_a_refused_connection_writes_no_user_index(store: Store, keys: Keys) -> None:
    store.add_connection(user_connection(ADA, "u-ada"))
    before = keys()
    with pytest.raises(BotoClientError):
        store.add_connection(user_connection(ADA, "u-eve"))
    assert keys() == before
    assert store.user_connection_ids("u-eve") == []


def test_a_connection_without_a_user_has_no_user_index(store: Store, keys: Keys) -> None:
    store.add_connection(user_connection(ADA, None))
    assert keys() == {(f"CONN#{ADA}", "META"), ("ROOM#lobby", f"CONN#{ADA}")}
    assert store.remove_connection(ADA) is not None
    assert keys() == set()


def test_removal_takes_the_user_index_in_the_same_transaction(
    db: DynamoDBClient, store: Store, items: Items, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_connection(user_connection(ADA, "u-ada", rooms=frozenset({"lobby", "dev"})))
    store.add_connection(user_connection(BOB, "u-ada"))
    writes: list[list[dict[str, Any]]] = []
    transact = db.transact_write_items

    def recording(**kwargs: Any) -> Any:
        writes.append(kwargs["TransactItems"])
        return transact(**kwargs)

    monkeypatch.setattr(db, "transact_write_items", recording)
    store.remove_connection(ADA)
    assert [[w["Delete"]["Key"] for w in call] for call in writes] == [
        [
            connection_key(ADA),
            membership_key("dev", ADA),
            membership_key("lobby", ADA),
            user_key("u-ada", ADA),
        ]
    ]
    assert {(i["PK"]["S"], i["SK"]["S"]) for i in items()} == {
        (f"CONN#{BOB}", "META"),
        ("ROOM#lobby", f"CONN#{BOB}"),
        ("USER#u-ada", f"CONN#{BOB}"),
    }
    assert store.user_connection_ids("u-ada") == [BOB]
    store.remove_connection(BOB)
    assert items() == [], "a full scan finds nothing of either connection"


def test_a_failed_removal_leaves_the_user_index(
    db: DynamoDBClient, store: Store, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_connection(user_connection(ADA, "u-ada"))
    before = keys()

    def refused(**kwargs: Any) -> Any:
        raise BotoClientError(
            {"Error": {"Code": "InternalServerError", "Message": "try again"}},
            "TransactWriteItems",
        )

    monkeypatch.setattr(db, "transact_write_items", refused)
    with pytest.raises(BotoClientError):
        store.remove_connection(ADA)
    assert keys() == before
    assert store.user_connection_ids("u-ada") == [ADA]


def test_user_connection_ids_pages_through_every_connection_of_one_user(
    db: DynamoDBClient, table: str
) -> None:
    store = Store(db, table, query_page_size=2)
    ada = [connection_id(n) for n in range(10, 17)]
    for cid in ada:
        store.add_connection(user_connection(cid, "u-ada"))
    store.add_connection(user_connection(BOB, "u-ada-2"))
    store.add_connection(user_connection(connection_id(30), "u-ad"))
    assert sorted(store.user_connection_ids("u-ada")) == sorted(ada)
    assert store.user_connection_ids("u-ad") == [connection_id(30)]
    assert store.user_connection_ids("nobody") == []


def test_guest_and_sender() -> None:
    user = user_connection(ADA, "u-ada")
    assert user.guest is False
    assert user.sender() == {"connectionId": ADA, "name": "ada", "userId": "u-ada"}
    guest = user_connection(ADA, f"guest:{ADA}", name="guest-1a2b3c")
    assert guest.guest is True
    assert guest.sender() == {
        "connectionId": ADA,
        "name": "guest-1a2b3c",
        "userId": f"guest:{ADA}",
        "guest": True,
    }
    unknown = user_connection(ADA, None)
    assert unknown.guest is True
    assert unknown.sender() == {"connectionId": ADA, "name": "ada", "guest": True}


# ------------------------------------------------------------------------------ room members


def test_room_members_one_entry_per_user_ordered_by_name(store: Store) -> None:
    dev = frozenset({"dev"})
    for cid, user, name in (
        (connection_id(10), "u-zed", "zed"),
        (connection_id(11), "u-ada", "ada"),
        (connection_id(12), "u-bob", "Bob"),
        (connection_id(13), "u-ada", "ada"),
        (connection_id(14), f"guest:{connection_id(14)}", "bob"),
        (connection_id(15), "u-ada", "ada"),
        (connection_id(16), "u-ann", "ada"),
    ):
        store.add_connection(user_connection(cid, user, name=name, rooms=dev))
    store.add_connection(user_connection(connection_id(17), None, name="amy", rooms=dev))
    store.add_connection(user_connection(connection_id(18), "u-cy", name="cy"))
    assert store.room_members("dev") == [
        Member(user_id="u-ada", name="ada", connections=3),
        Member(user_id="u-ann", name="ada", connections=1),
        Member(user_id=connection_id(17), name="amy", connections=1),
        Member(user_id=f"guest:{connection_id(14)}", name="bob", connections=1),
        Member(user_id="u-bob", name="Bob", connections=1),
        Member(user_id="u-zed", name="zed", connections=1),
    ]
    assert store.room_members("lobby") == [Member(user_id="u-cy", name="cy", connections=1)]
    assert store.room_members("empty") == []


def test_room_members_across_query_pages(db: DynamoDBClient, table: str) -> None:
    store = Store(db, table, query_page_size=2)
    for n in range(7):
        store.add_connection(user_connection(connection_id(10 + n), f"u-{n % 3}", name=f"n{n % 3}"))
    assert store.room_members("lobby") == [
        Member(user_id="u-0", name="n0", connections=3),
        Member(user_id="u-1", name="n1", connections=2),
        Member(user_id="u-2", name="n2", connections=2),
    ]


# ------------------------------------------------------------------------------ user_in_room


def test_user_in_room_counts_only_the_users_other_connections(store: Store) -> None:
    store.add_connection(user_connection(ADA, "u-ada", rooms=frozenset({"lobby", "dev"})))
    store.add_connection(user_connection(BOB, "u-bob", rooms=frozenset({"lobby", "ops"})))
    assert store.user_in_room("u-ada", "dev", excluding=ADA) is False
    assert store.user_in_room("u-ada", "dev", excluding="someone-else") is True
    assert store.user_in_room("u-ada", "ops", excluding="someone-else") is False
    assert store.user_in_room("u-nobody", "dev", excluding=ADA) is False
    second = connection_id(3)
    store.add_connection(user_connection(second, "u-ada"))
    assert store.user_in_room("u-ada", "lobby", excluding=ADA) is True
    assert store.user_in_room("u-ada", "dev", excluding=ADA) is False
    store.join_room(store.require_connection(second), "dev")
    assert store.user_in_room("u-ada", "dev", excluding=ADA) is True
    assert store.user_in_room("u-ada", "dev", excluding=second) is True


def test_user_in_room_with_more_connections_than_one_batch_get(
    store: Store, db: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    many = [connection_id(100 + n) for n in range(102)]
    for cid in many:
        store.add_connection(user_connection(cid, "u-ada", rooms=frozenset()))
    batches: list[int] = []
    batch_get = db.batch_get_item

    def counting(**kwargs: Any) -> Any:
        batches.append(len(kwargs["RequestItems"][store.table_name]["Keys"]))
        return batch_get(**kwargs)

    monkeypatch.setattr(db, "batch_get_item", counting)
    assert store.user_in_room("u-ada", "dev", excluding=many[0]) is False
    assert batches == [100, 1]
    last = max(many)  # the Query returns them in key order: the last is in the second batch
    store.join_room(store.require_connection(last), "dev")
    batches.clear()
    assert store.user_in_room("u-ada", "dev", excluding=many[0]) is True
    assert batches == [100, 1]
    assert store.user_in_room("u-ada", "dev", excluding=last) is False


def test_user_in_room_asks_for_unprocessed_keys_one_by_one(
    store: Store, db: DynamoDBClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under throttling BatchGetItem may answer nothing and hand every key back."""
    for cid in (ADA, BOB):
        store.add_connection(user_connection(cid, "u-ada"))
    store.join_room(store.require_connection(BOB), "dev")

    def throttled(**kwargs: Any) -> Any:
        return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}

    monkeypatch.setattr(db, "batch_get_item", throttled)
    assert store.user_in_room("u-ada", "dev", excluding=ADA) is True
    assert store.user_in_room("u-ada", "ops", excluding=ADA) is False


class ThrottlingDb:
    """The real client, but the first `times` transactions are cancelled for capacity."""

    def __init__(self, db: DynamoDBClient, times: int) -> None:
        self._db = db
        self.left = times
        self.attempts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.attempts += 1
        if self.left > 0:
            self.left -= 1
            count = len(kwargs["TransactItems"])
            response: dict[str, Any] = {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": [{"Code": "ThrottlingError"}]
                + [{"Code": "None"}] * (count - 1),
            }
            raise BotoClientError(response, "TransactWriteItems")  # type: ignore[arg-type]
        return self._db.transact_write_items(**kwargs)


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr("switchboard.store.time.sleep", waited.append)
    return waited


def test_a_transaction_cancelled_for_capacity_is_retried_with_backoff(
    db: DynamoDBClient, table: str, keys: Keys, no_sleep: list[float]
) -> None:
    throttled = ThrottlingDb(db, times=3)
    store = Store(throttled, table)  # type: ignore[arg-type]
    store.add_connection(connection())
    assert throttled.attempts == 4
    assert len(no_sleep) == 3
    # Jittered between half and all of each step of the backoff.
    for waited, step in zip(no_sleep, store_module.THROTTLE_DELAYS, strict=False):
        assert step / 2 <= waited <= step
    assert (f"CONN#{ADA}", "META") in keys()


def test_a_transaction_cancelled_for_capacity_every_time_gives_up(
    db: DynamoDBClient, table: str, keys: Keys, no_sleep: list[float]
) -> None:
    throttled = ThrottlingDb(db, times=100)
    store = Store(throttled, table)  # type: ignore[arg-type]
    with pytest.raises(BotoClientError):
        store.add_connection(connection())
    assert throttled.attempts == len(store_module.THROTTLE_DELAYS) + 1
    assert not keys()
