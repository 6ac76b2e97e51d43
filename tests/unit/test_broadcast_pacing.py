"""The broadcaster paces itself: one post at a time when CPU-bound, many when waiting.

The management client is a fake with the real client's exception classes: what it does per
post (burn CPU, or sleep as a network wait would) is what the pacing must tell apart, and it
records which thread made each post and how many were under way at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest

from switchboard.broadcast import Broadcaster, FanoutResult
from switchboard.store import Store
from tests.support.events import connection_id
from tests.unit.conftest import MANAGEMENT_ENDPOINT

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient
    from mypy_boto3_dynamodb.client import DynamoDBClient

PAYLOAD = b'{"type":"message","data":"hi"}'
SENDER = connection_id(1)
CONCURRENCY = 8
#: What a post costs boto3 in CPU, and a short network wait.
CPU_PER_POST = 0.0003
WAIT_PER_POST = 0.005
CPU_BOUND_ATTEMPTS = 5


class Boom(Exception):
    """Not an AWS error: the broadcaster must not swallow it."""


class FakeManagementClient:
    """`post_to_connection` that burns CPU or waits, recording who posted and how many at once."""

    def __init__(self, exceptions: Any, *, cpu: float = 0.0, wait: float = 0.0) -> None:
        self.exceptions = exceptions
        self._cpu = cpu
        self._wait = wait
        self._lock = threading.Lock()
        self._under_way = 0
        self.most_at_once = 0
        self.posts: list[tuple[str, int]] = []  # (connection id, thread ident)
        self.raise_in: Any = None  # a predicate on the thread ident: raise Boom there, once

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        thread = threading.get_ident()
        with self._lock:
            self.posts.append((ConnectionId, thread))
            self._under_way += 1
            self.most_at_once = max(self.most_at_once, self._under_way)
            fail = self.raise_in is not None and self.raise_in(thread)
            if fail:
                self.raise_in = None
        try:
            if fail:
                raise Boom(ConnectionId)
            if self._cpu:
                deadline = time.perf_counter() + self._cpu
                while time.perf_counter() < deadline:
                    pass
            if self._wait:
                time.sleep(self._wait)
        finally:
            with self._lock:
                self._under_way -= 1

    def reset(self) -> None:
        with self._lock:
            self.posts.clear()
            self.most_at_once = 0

    def posted_ids(self) -> Counter[str]:
        with self._lock:
            return Counter(cid for cid, _ in self.posts)

    def threads(self) -> set[int]:
        with self._lock:
            return {thread for _, thread in self.posts}


@pytest.fixture(scope="module")
def exceptions() -> Any:
    """The exception classes of a real `apigatewaymanagementapi` client."""
    real = boto3.client(
        "apigatewaymanagementapi", endpoint_url=MANAGEMENT_ENDPOINT, region_name="us-east-1"
    )
    return real.exceptions


@pytest.fixture
def store(db: DynamoDBClient, table: str) -> Store:
    return Store(db, table)


def broadcaster(fake: FakeManagementClient, store: Store) -> Broadcaster:
    client = cast("ApiGatewayManagementApiClient", fake)
    return Broadcaster(client, store, concurrency=CONCURRENCY)


def ids(count: int) -> list[str]:
    return [connection_id(n) for n in range(2, count + 2)]


def test_a_cpu_bound_fan_out_comes_down_to_one_post_at_a_time(
    exceptions: Any, store: Store
) -> None:
    recipients = ids(48)
    # The pace compares this process's CPU with the wall time: on a machine shared with
    # other busy processes, time spent descheduled reads as waiting. A fresh broadcaster
    # (nothing measured yet) is tried a few times; one that never comes down to 1 fails.
    # From 8 in flight, halving after each CPU-bound broadcast: 8, 4, 2, 1.
    for _ in range(CPU_BOUND_ATTEMPTS):
        fake = FakeManagementClient(exceptions, cpu=CPU_PER_POST)
        fanout = broadcaster(fake, store)
        assert fanout.pace.in_flight == CONCURRENCY, "nothing measured yet: the limit"
        for _ in range(3):
            assert fanout.send(recipients, PAYLOAD) == FanoutResult(delivered=48)
        if fanout.pace.in_flight == 1:
            break
    else:
        pytest.fail(f"still {fanout.pace.in_flight} in flight after CPU-bound broadcasts")
    fake.reset()
    assert fanout.send(recipients, PAYLOAD) == FanoutResult(delivered=48)
    assert fake.threads() == {threading.get_ident()}, "only the calling thread posts"
    assert fake.most_at_once == 1
    assert fake.posted_ids() == Counter(recipients)


def test_a_waiting_fan_out_keeps_its_posts_overlapping(exceptions: Any, store: Store) -> None:
    fake = FakeManagementClient(exceptions, wait=WAIT_PER_POST)
    fanout = broadcaster(fake, store)
    recipients = ids(64)
    assert fanout.send(recipients, PAYLOAD) == FanoutResult(delivered=64)
    assert fanout.pace.in_flight == CONCURRENCY
    fake.reset()
    assert fanout.send(recipients, PAYLOAD) == FanoutResult(delivered=64)
    assert fake.most_at_once > 1
    assert len(fake.threads()) > 1
    assert fanout.pace.in_flight == CONCURRENCY


def pages_of(connection_ids: list[str], size: int) -> Iterator[list[str]]:
    """A room's members as a paged Query yields them, each page after a round trip (which
    lets the other threads run while the generator is in the middle of a `next`)."""
    for start in range(0, len(connection_ids), size):
        time.sleep(0.002)
        yield connection_ids[start : start + size]


@pytest.mark.parametrize("one_at_a_time", [False, True], ids=["in-flight-8", "in-flight-1"])
@pytest.mark.parametrize("source", ["list", "generator", "pages"])
def test_every_id_is_posted_once_and_the_sender_never(
    exceptions: Any, store: Store, source: str, one_at_a_time: bool
) -> None:
    fake = FakeManagementClient(exceptions, wait=0.0005)
    fanout = broadcaster(fake, store)
    if one_at_a_time:
        for in_flight in (8, 4, 2):  # as after CPU-bound broadcasts
            fanout.pace.record(100, in_flight, wall=1.0, cpu=1.0)
    expected_in_flight = 1 if one_at_a_time else CONCURRENCY
    assert fanout.pace.in_flight == expected_in_flight
    others = ids(150)
    members = [*others[:70], SENDER, *others[70:]]
    if source == "list":
        result = fanout.send(members, PAYLOAD, sender=SENDER)
    elif source == "generator":
        result = fanout.send(
            (cid for page in pages_of(members, 25) for cid in page), PAYLOAD, sender=SENDER
        )
    else:
        store.room_connection_pages = lambda room: pages_of(members, 25)  # type: ignore[method-assign]
        result = fanout.to_room("lobby", PAYLOAD, sender=SENDER)
    assert result == FanoutResult(delivered=150)
    assert fake.posted_ids() == Counter(others)
    if one_at_a_time:
        assert fake.threads() == {threading.get_ident()}
    else:
        assert len(fake.threads()) > 1, "the helpers posted too"


def settled_posts(fake: FakeManagementClient, quiet: float = 0.1, timeout: float = 5.0) -> int:
    """The number of posts once none has been made for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    count = len(fake.posts)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = len(fake.posts)
        if now == count:
            return count
        count = now
    raise AssertionError(f"posts still being made {timeout} s after send() returned")


@pytest.mark.parametrize("raised_by", ["caller", "helper"])
def test_an_unexpected_error_propagates_and_the_helpers_stop(
    exceptions: Any, store: Store, raised_by: str
) -> None:
    fake = FakeManagementClient(exceptions, wait=0.002)
    fanout = broadcaster(fake, store)
    caller = threading.get_ident()
    fake.raise_in = (lambda t: t == caller) if raised_by == "caller" else (lambda t: t != caller)
    recipients = ids(500)
    with pytest.raises(Boom):
        fanout.send(recipients, PAYLOAD)
    at_raise = len(fake.posts)
    posted = settled_posts(fake)
    time.sleep(0.1)
    assert len(fake.posts) == posted, "a helper went on posting after it settled"
    assert max(fake.posted_ids().values()) == 1
    # An error in a helper stops that helper only: the others and the caller take the
    # rest of the ids, and send() raises it once they are all taken.
    if raised_by == "caller":
        # send() waited for the helpers, which stopped at their next post: a handful of
        # posts, never the rest of the room, and none after send() raised.
        assert posted == at_raise
        assert posted < len(recipients) / 2


def test_a_direct_message_starts_no_helper(exceptions: Any, store: Store) -> None:
    """One recipient at the limit in flight: the calling thread posts it and no helper task
    is queued (31 of them cost as much CPU as the post itself)."""
    fake = FakeManagementClient(exceptions)
    fanout = broadcaster(fake, store)
    assert fanout.pace.in_flight == CONCURRENCY
    assert fanout.send([SENDER, connection_id(2)], PAYLOAD, sender=SENDER).delivered == 1
    assert fake.threads() == {threading.get_ident()}
    assert fanout.helpers_started == 0


def test_a_small_send_does_not_wait_for_a_big_one_on_the_same_broadcaster(
    exceptions: Any, store: Store
) -> None:
    """Two threads sharing one broadcaster (a threaded host of the HTTP API): the small
    send's helpers queue behind the big one's on the shared pool; it posts its three itself
    and drops them instead of waiting for the whole room."""
    fake = FakeManagementClient(exceptions, wait=WAIT_PER_POST)
    fanout = broadcaster(fake, store)
    big_done = threading.Event()

    def big() -> None:
        fanout.send(ids(400), PAYLOAD)  # 400 x 5 ms / 8 in flight: at least 250 ms
        big_done.set()

    worker = threading.Thread(target=big, daemon=True)
    worker.start()
    time.sleep(0.05)  # the big broadcast's helpers hold every pool thread
    started = time.perf_counter()
    small = [connection_id(n) for n in range(1000, 1003)]
    assert fanout.send(small, PAYLOAD) == FanoutResult(delivered=3)
    took = time.perf_counter() - started
    assert not big_done.is_set(), "the big broadcast should still be running"
    assert took < 0.15, f"the small send took {took * 1000:.0f} ms"
    worker.join(timeout=10)
    assert big_done.is_set()
    assert fake.posted_ids() == Counter(ids(400)) + Counter(small)


def test_the_pace_learns_from_how_many_posted_at_once_not_how_many_were_allowed(
    exceptions: Any, store: Store
) -> None:
    # A room of 10 with 16 allowed: 10 posted at once. Recorded as 16, the wait per post
    # would read 1.6 times too long and push the pace up for the next, bigger room.
    fake = FakeManagementClient(exceptions, wait=WAIT_PER_POST)
    fanout = Broadcaster(cast("ApiGatewayManagementApiClient", fake), store, concurrency=16)
    recorded: list[tuple[int, int]] = []
    fanout.pace.record = lambda posts, in_flight, wall, cpu: recorded.append((posts, in_flight))  # type: ignore[method-assign]

    assert fanout.send(ids(10), PAYLOAD) == FanoutResult(delivered=10)
    assert fanout.send(ids(40), PAYLOAD) == FanoutResult(delivered=40)

    assert recorded == [(10, 10), (40, 16)]
