"""Fan-out: who receives what, and what 410, 429 and other errors do to the count and the table."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError as BotoClientError

from switchboard import broadcast
from switchboard.broadcast import RETRY_DELAYS, Broadcaster, FanoutResult, Outcome
from switchboard.config import Config
from switchboard.runtime import Runtime
from switchboard.store import Connection, Store
from tests.support import management_api
from tests.support.events import connection_id
from tests.support.management_api import ManagementFaults, received, recipients
from tests.unit.conftest import MANAGEMENT_ENDPOINT

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient
    from mypy_boto3_dynamodb.client import DynamoDBClient

Keys = Callable[[], set[tuple[str, str]]]
SENDER = connection_id(1)
PAYLOAD = b'{"type":"message","data":"hi"}'


def record(store: Store, cid: str, rooms: set[str]) -> None:
    store.add_connection(
        Connection(
            connection_id=cid,
            name=f"n{cid[:4]}",
            connected_at=1795830432345,
            expires_at=1795830432 + 7500,
            rooms=frozenset(rooms),
        )
    )


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the broadcaster waited, without waiting."""
    waited: list[float] = []
    monkeypatch.setattr(broadcast, "time", SimpleNamespace(sleep=waited.append))
    return waited


@pytest.fixture
def runtime(table: str) -> Runtime:
    return Runtime(Config.from_env())


@pytest.fixture
def fanout(runtime: Runtime, faults: ManagementFaults) -> Broadcaster:
    """The broadcaster the handlers use: real management client, default retries and pool."""
    return runtime.broadcaster(MANAGEMENT_ENDPOINT)


def test_delivers_the_payload_to_everyone_but_the_sender(fanout: Broadcaster) -> None:
    others = [connection_id(n) for n in range(2, 6)]
    result = fanout.send([SENDER, *others], PAYLOAD, sender=SENDER)
    assert result == FanoutResult(delivered=4, pruned=0, failed=0)
    assert result.attempted == 4
    for cid in others:
        assert received(cid) == [{"type": "message", "data": "hi"}]
    assert recipients() == set(others)


def test_without_a_sender_everyone_receives(fanout: Broadcaster) -> None:
    assert fanout.send([SENDER], PAYLOAD).delivered == 1
    assert received(SENDER) == [{"type": "message", "data": "hi"}]


def test_room_larger_than_a_query_page_reaches_each_member_once(
    db: DynamoDBClient, table: str, faults: ManagementFaults
) -> None:
    store = Store(db, table, query_page_size=2)
    members = [connection_id(n) for n in range(2, 9)]
    for cid in [SENDER, *members]:
        record(store, cid, {"big"})
    record(store, connection_id(99), {"other"})
    assert len(list(store.room_connection_pages("big"))) == 4
    client = boto3.client("apigatewaymanagementapi", endpoint_url=MANAGEMENT_ENDPOINT)
    result = Broadcaster(client, store).to_room("big", PAYLOAD, sender=SENDER)
    assert result == FanoutResult(delivered=7)
    assert dict(faults.attempts) == dict.fromkeys(members, 1)
    assert recipients() == set(members)


def test_gone_connections_are_pruned_with_all_their_memberships(
    fanout: Broadcaster, runtime: Runtime, faults: ManagementFaults, keys: Keys
) -> None:
    stale = [connection_id(2), connection_id(3)]
    live = [connection_id(4), connection_id(5)]
    for cid in [SENDER, *live]:
        record(runtime.store, cid, {"lobby"})
    for cid in stale:
        record(runtime.store, cid, {"lobby", "dev", "ops"})
        faults.fail(cid, management_api.gone)
    result = fanout.to_room("lobby", PAYLOAD, sender=SENDER)
    assert result == FanoutResult(delivered=2, pruned=2, failed=0)
    assert recipients() == set(live)
    remaining = keys()
    for cid in stale:
        # Only the departure note is left, for the connection's own $disconnect.
        left = {k for k in remaining if cid in k[0] or cid in k[1]}
        assert left == {(f"CONN#{cid}", "DEPARTED")}, f"{cid} left records"
        departed = runtime.store.take_departure(cid)
        assert departed is not None and departed.rooms == {"lobby", "dev", "ops"}
    assert (f"CONN#{SENDER}", "META") in remaining
    for cid in live:
        assert (f"CONN#{cid}", "META") in remaining


def test_the_sender_is_never_posted_to_nor_pruned(
    fanout: Broadcaster, runtime: Runtime, faults: ManagementFaults, keys: Keys
) -> None:
    record(runtime.store, SENDER, {"lobby"})
    record(runtime.store, connection_id(2), {"lobby"})
    faults.fail(SENDER, management_api.gone)
    result = fanout.to_room("lobby", PAYLOAD, sender=SENDER)
    assert result == FanoutResult(delivered=1)
    assert faults.attempts[SENDER] == 0
    assert (f"CONN#{SENDER}", "META") in keys()


def test_throttled_posts_are_retried_with_backoff(
    fanout: Broadcaster, faults: ManagementFaults, sleeps: list[float]
) -> None:
    target = connection_id(2)
    faults.fail(target, management_api.throttled, times=2)
    assert fanout.send([target], PAYLOAD) == FanoutResult(delivered=1)
    assert faults.attempts[target] == 3
    assert sleeps == [0.05, 0.1]
    assert received(target) == [{"type": "message", "data": "hi"}]


def test_throttled_forever_fails_after_bounded_attempts(
    fanout: Broadcaster,
    runtime: Runtime,
    faults: ManagementFaults,
    sleeps: list[float],
    keys: Keys,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    target, other = connection_id(2), connection_id(3)
    record(runtime.store, target, {"lobby"})
    faults.fail(target, management_api.throttled)
    assert fanout.send([target, other], PAYLOAD) == FanoutResult(delivered=1, failed=1)
    # One try plus one per delay; botocore itself must not retry (it would multiply this).
    assert faults.attempts[target] == len(RETRY_DELAYS) + 1 == 5
    assert sleeps == list(RETRY_DELAYS)
    assert (f"CONN#{target}", "META") in keys(), "throttled is not gone"
    warnings = [line for line in log_lines() if line["level"] == "WARNING"]
    assert warnings == [
        {**warnings[0], "message": "post throttled, giving up", "connectionId": target}
    ]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (management_api.forbidden, "ForbiddenException"),
        (management_api.internal_error, "InternalServerErrorException"),
        (
            lambda cid: management_api.ManagementError(
                413, "PayloadTooLargeException", "Request Entity Too Large"
            ),
            "PayloadTooLargeException",
        ),
    ],
)
def test_other_errors_are_counted_logged_and_never_abort(
    fault: management_api.Fault,
    code: str,
    fanout: Broadcaster,
    runtime: Runtime,
    faults: ManagementFaults,
    keys: Keys,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    failing = connection_id(2)
    others = [connection_id(n) for n in range(3, 8)]
    record(runtime.store, failing, {"lobby"})
    faults.fail(failing, fault)
    result = fanout.send([failing, *others], PAYLOAD)
    assert result == FanoutResult(delivered=5, pruned=0, failed=1)
    assert faults.attempts[failing] == 1, "neither the broadcaster nor botocore retries these"
    assert recipients() == set(others)
    assert (f"CONN#{failing}", "META") in keys()
    failures = [line for line in log_lines() if line["message"] == "post failed"]
    assert [(f["connectionId"], f["error"]) for f in failures] == [(failing, code)]


def test_every_kind_of_answer_in_one_broadcast(
    fanout: Broadcaster, runtime: Runtime, faults: ManagementFaults, sleeps: list[float]
) -> None:
    ids = {
        kind: connection_id(n)
        for n, kind in enumerate(
            ["ok", "gone", "slow", "throttled", "forbidden", "broken"], start=2
        )
    }
    for cid in ids.values():
        record(runtime.store, cid, {"mixed"})
    record(runtime.store, SENDER, {"mixed"})
    faults.fail(ids["gone"], management_api.gone)
    faults.fail(ids["slow"], management_api.throttled, times=1)
    faults.fail(ids["throttled"], management_api.throttled)
    faults.fail(ids["forbidden"], management_api.forbidden)
    faults.fail(ids["broken"], management_api.internal_error)
    result = fanout.to_room("mixed", PAYLOAD, sender=SENDER)
    assert result == FanoutResult(delivered=2, pruned=1, failed=3)
    assert recipients() == {ids["ok"], ids["slow"]}
    assert runtime.store.get_connection(ids["gone"]) is None
    assert runtime.store.get_connection(ids["throttled"]) is not None


@pytest.mark.parametrize(
    ("failure", "described"),
    [
        (
            BotoClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                "TransactWriteItems",
            ),
            "ProvisionedThroughputExceededException",
        ),
        (RuntimeError("connection kept changing; gave up after 5 tries"), "RuntimeError"),
    ],
    ids=["dynamodb-error", "remove-gave-up"],
)
def test_a_failed_prune_is_logged_and_does_not_abort(
    failure: Exception,
    described: str,
    fanout: Broadcaster,
    runtime: Runtime,
    faults: ManagementFaults,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    stale, live = connection_id(2), connection_id(3)
    faults.fail(stale, management_api.gone)

    def unavailable(cid: str, **_: Any) -> Connection | None:
        raise failure

    monkeypatch.setattr(runtime.store, "remove_connection", unavailable)
    assert fanout.send([stale, live], PAYLOAD) == FanoutResult(delivered=1, pruned=1)
    assert received(live) == [{"type": "message", "data": "hi"}]
    assert [
        (line["message"], line["connectionId"], line["error"])
        for line in log_lines()
        if line["level"] == "WARNING"
    ] == [("prune failed", stale, described)]


def test_posts_run_concurrently(table: str, db: DynamoDBClient) -> None:
    """Eight posts must be in flight at once to pass the barrier; a sequential loop deadlocks."""
    in_flight = threading.Barrier(8, timeout=5)
    real = boto3.client("apigatewaymanagementapi", endpoint_url=MANAGEMENT_ENDPOINT)

    class WaitingClient:
        exceptions = real.exceptions

        def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
            in_flight.wait()

    client = cast("ApiGatewayManagementApiClient", WaitingClient())
    fanout = Broadcaster(client, Store(db, table), concurrency=8)
    assert fanout.send([connection_id(n) for n in range(16)], PAYLOAD).delivered == 16


def test_post_reports_one_outcome(fanout: Broadcaster, faults: ManagementFaults) -> None:
    faults.fail(connection_id(3), management_api.gone)
    assert fanout.post(connection_id(2), PAYLOAD) is Outcome.DELIVERED
    assert fanout.post(connection_id(3), PAYLOAD) is Outcome.GONE
    assert received(connection_id(3)) == []


def test_a_gone_recipient_still_connecting_is_counted_but_kept(
    fanout: Broadcaster, runtime: Runtime, faults: ManagementFaults, keys: Keys
) -> None:
    """API Gateway answers 410 while a connection's `$connect` runs; its records must stay."""
    connecting, stale = connection_id(2), connection_id(3)
    now = broadcast.now_ms()  # the broadcaster's clock (the faults fixture moves it)
    long_ago = now - broadcast.CONNECTING_GRACE_MS - 1
    for cid, opened in ((connecting, now - 2_000), (stale, long_ago)):
        runtime.store.add_connection(
            Connection(
                connection_id=cid,
                name="n",
                connected_at=opened,
                expires_at=opened // 1000 + 7500,
                rooms=frozenset({"lobby"}),
                recorded_at=opened,
            )
        )
        faults.fail(cid, management_api.gone)
    result = fanout.to_room("lobby", PAYLOAD, sender=SENDER)
    assert result == FanoutResult(delivered=0, pruned=2, failed=0)
    assert (f"CONN#{connecting}", "META") in keys(), "its $connect may still be running"
    assert {k for k in keys() if stale in k[0] or stale in k[1]} == {(f"CONN#{stale}", "DEPARTED")}
