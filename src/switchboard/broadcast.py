"""Fan-out through the `@connections` management API, concurrently and with honest counts.

A room of N members costs about N x latency / concurrency. How many posts are in flight at
once is learned from the broadcasts before (fanout_pace): enough to hide the network's
wait, at most `concurrency`; against an endpoint that answers at once, one at a time.

A `GoneException` (410) means the recipient is stale: its records are deleted (never the
sender's) and it is counted as pruned. API Gateway also answers 410 for a connection still
in its handshake (its `$connect` has written its records but not returned), so the records
of a recipient written in the last few seconds are kept (it is counted as pruned all the
same: it was not reached); if it has really gone, its `$disconnect`, a later broadcast or
TTL removes them. `LimitExceededException` (429) is retried with bounded backoff. Any other
error is logged with the connection id, counted as failed, and never stops the rest of the
broadcast.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain, islice
from time import perf_counter, process_time  # by name: tests replace `time` (its sleep)
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from switchboard import protocol
from switchboard.fanout_pace import FanoutPace
from switchboard.store import Store

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient

log = logging.getLogger("switchboard.broadcast")

#: Backoff before each retry of a throttled POST; its length bounds the retries.
RETRY_DELAYS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
#: How long after `$connect` wrote its record a connection may still be in its handshake:
#: `$connect` returns right after the write and API Gateway then completes it (in ms).
CONNECTING_GRACE_MS = 5_000


def now_ms() -> int:
    """The clock the connecting grace is measured on (unit tests move it)."""
    return protocol.now_ms()


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    CONNECTING = "connecting"
    FAILED = "failed"


@dataclass(frozen=True)
class FanoutResult:
    delivered: int = 0
    pruned: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.pruned + self.failed


class _Recipients:
    """The ids still to post to, shared by the threads of one broadcast."""

    def __init__(self, connection_ids: Iterator[str]) -> None:
        self._ids = connection_ids
        self._lock = threading.Lock()
        self._stopped = False

    def next(self) -> str | None:
        # Under the lock: the iterator may be a Query being paged through.
        with self._lock:
            return None if self._stopped else next(self._ids, None)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True


class Broadcaster:
    """Posts one payload to many connections, a learned number of them at a time."""

    def __init__(
        self,
        management: ApiGatewayManagementApiClient,
        store: Store,
        *,
        concurrency: int = 32,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self._api = management
        self._store = store
        self._retry_delays = retry_delays
        self.pace = FanoutPace(concurrency)
        #: Helper tasks submitted so far (tests and diagnostics).
        self.helpers_started = 0
        # The calling thread posts too: the pool holds the others.
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, concurrency - 1), thread_name_prefix="fanout"
        )

    def post(self, connection_id: str, payload: bytes) -> Outcome:
        """Deliver to one connection, retrying throttling; never raises for AWS errors."""
        for delay in (*self._retry_delays, None):
            try:
                self._api.post_to_connection(ConnectionId=connection_id, Data=payload)
                return Outcome.DELIVERED
            except self._api.exceptions.GoneException:
                # Must come before ClientError, of which it is a subclass.
                return Outcome.GONE
            except self._api.exceptions.LimitExceededException:
                if delay is None:
                    log.warning("post throttled, giving up", extra={"connectionId": connection_id})
                    return Outcome.FAILED
                time.sleep(delay)
            except (ClientError, BotoCoreError) as error:
                log.warning(
                    "post failed",
                    extra={"connectionId": connection_id, "error": _describe(error)},
                )
                return Outcome.FAILED
        return Outcome.FAILED  # pragma: no cover - the loop always returns

    def send(
        self, connection_ids: Iterable[str], payload: bytes, *, sender: str | None = None
    ) -> FanoutResult:
        """Post to every id (the sender excluded), pruning the gone ones."""
        in_flight = self.pace.in_flight
        started, cpu_started = perf_counter(), process_time()
        ids = (cid for cid in connection_ids if cid != sender)
        # As many helpers as there are ids to share, at most: a direct message or a small
        # room is posted by the calling thread alone, with no tasks queued for nothing.
        ahead = list(islice(ids, in_flight))
        recipients = _Recipients(chain(ahead, ids))
        helpers = [
            self._pool.submit(self._drain, recipients, payload, sender)
            for _ in range(len(ahead) - 1)
        ]
        self.helpers_started += len(helpers)
        outcomes: list[Outcome] = []
        errors: list[BaseException] = []
        posters = 1  # this thread, and each helper that ran
        try:
            outcomes += self._drain(recipients, payload, sender)
        finally:
            recipients.stop()  # on an error here, the helpers stop at their next post
            for helper in helpers:
                # One still queued (behind another broadcast's helpers, on a shared pool)
                # has nothing left to post: it is dropped rather than waited for.
                if helper.cancel():
                    continue
                posters += 1
                try:
                    outcomes += helper.result()
                except Exception as error:
                    errors.append(error)
        if errors:
            raise errors[0]
        # How many posted at once, not how many were allowed: a room smaller than the pace
        # had fewer in flight, and counting the allowance would overstate its wait.
        self.pace.record(
            len(outcomes),
            posters,
            perf_counter() - started,
            process_time() - cpu_started,
        )
        return FanoutResult(
            delivered=outcomes.count(Outcome.DELIVERED),
            pruned=outcomes.count(Outcome.GONE) + outcomes.count(Outcome.CONNECTING),
            failed=outcomes.count(Outcome.FAILED),
        )

    def to_room(self, room: str, payload: bytes, *, sender: str | None = None) -> FanoutResult:
        """Post to every member of the room but the sender, page by page."""
        ids = chain.from_iterable(self._store.room_connection_pages(room))
        return self.send(ids, payload, sender=sender)

    def _drain(self, recipients: _Recipients, payload: bytes, sender: str | None) -> list[Outcome]:
        outcomes = []
        while (connection_id := recipients.next()) is not None:
            outcomes.append(self._deliver(connection_id, payload, sender))
        return outcomes

    def _deliver(self, connection_id: str, payload: bytes, sender: str | None) -> Outcome:
        outcome = self.post(connection_id, payload)
        if outcome is Outcome.GONE and connection_id != sender:
            try:
                if self._still_connecting(connection_id):
                    log.info("recipient connecting, kept", extra={"connectionId": connection_id})
                    return Outcome.CONNECTING
                # Its `$disconnect` finds the record gone: a copy tells it which rooms to
                # tell that it left.
                self._store.remove_connection(connection_id, note_departure=True)
            except Exception as error:
                # Pruning is best effort: TTL removes the records if this fails. Any error
                # (remove_connection's RuntimeError after repeated conflicts included) must
                # not escape, or future.result() would abort the rest of the broadcast.
                log.warning(
                    "prune failed",
                    extra={"connectionId": connection_id, "error": _describe(error)},
                )
        return outcome

    def _still_connecting(self, connection_id: str) -> bool:
        record = self._store.get_connection(connection_id)
        if record is None:
            return False
        written = record.recorded_at or record.connected_at
        return written > now_ms() - CONNECTING_GRACE_MS


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__
