"""Fan-out benchmark: one room of 1,000 members, 20 ms per @connections call.

The real `Broadcaster` sends one message to the room twice in one run, with its thread pool
(default concurrency 32) and as a sequential loop (concurrency 1), and prints both times and
the ratio. The issue's target is at least 20x; the ideal is N x latency / concurrency.

Why a fake management client rather than a local HTTP server that sleeps: the question is
whether the broadcaster overlaps the calls' latency, so the latency must be the only cost.
A loopback server would add HTTP parsing and botocore's signing and response parsing, about
0.8 ms of CPU per call here, all of it under the GIL in this one process, so the benchmark
would measure this machine's CPU as much as the fan-out. (In Lambda that CPU is real and is
paid in the function, which has a fraction of a core at 256 MB: measure it there.) The fake
client's `post_to_connection` sleeps 20 ms, counts the POST and raises nothing; it carries
botocore's real exception classes, which the broadcaster's `except` clauses need. No socket
is opened; the room is served from memory in DynamoDB-sized pages through the same
`to_room` path the handlers use.

Usage: .venv/bin/python scripts/bench_fanout.py [--members 1000] [--latency-ms 20]
                                                [--concurrency 32]
Writes the table to artifacts/bench_fanout.md as well.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3

from switchboard.broadcast import Broadcaster
from switchboard.protocol import encode
from switchboard.store import Connection, Store

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient
    from mypy_boto3_dynamodb.client import DynamoDBClient

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "artifacts" / "bench_fanout.md"
TARGET = 20.0
ROOM = "lobby"
SENDER = "sender-connection="


class SlowManagementClient:
    """`post_to_connection` that takes `latency` seconds, like a call to the real API."""

    def __init__(self, latency: float, total: int, label: str) -> None:
        # Only the exception classes are used; creating a client opens no connection.
        self.exceptions = boto3.client(
            "apigatewaymanagementapi",
            region_name="us-east-1",
            endpoint_url="https://bench.invalid/prod",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).exceptions
        self.posted: Counter[str] = Counter()
        self._latency = latency
        self._total = total
        self._label = label
        self._lock = threading.Lock()
        self._started = time.perf_counter()

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> dict[str, Any]:
        time.sleep(self._latency)
        with self._lock:
            self.posted[ConnectionId] += 1
            done = sum(self.posted.values())
        if done % max(self._total // 5, 1) == 0:
            elapsed = time.perf_counter() - self._started
            print(f"  {self._label}: {done:>5}/{self._total} posts, {elapsed:6.2f} s", flush=True)
        return {}


class MemoryRoom(Store):
    """A store whose one room lives in memory, in pages as a DynamoDB Query returns them."""

    def __init__(self, members: list[str], page_size: int = 250) -> None:
        super().__init__(cast("DynamoDBClient", None), "in-memory")  # never queried
        self._members = members
        self._members_per_page = page_size

    def room_connection_pages(self, room: str) -> Iterator[list[str]]:
        for start in range(0, len(self._members), self._members_per_page):
            yield self._members[start : start + self._members_per_page]

    def remove_connection(
        self, connection_id: str, *, note_departure: bool = False
    ) -> Connection | None:
        raise AssertionError("no member is gone in this benchmark")


def run(label: str, members: list[str], latency: float, concurrency: int) -> float:
    """Seconds the broadcaster takes to reach every member once (checked)."""
    client = SlowManagementClient(latency, len(members), label)
    broadcaster = Broadcaster(
        cast("ApiGatewayManagementApiClient", client),
        MemoryRoom([SENDER, *members]),
        concurrency=concurrency,
    )
    payload = encode({"type": "message", "room": ROOM, "data": "benchmark"})
    print(f"{label}: {len(members)} members, concurrency {concurrency}", flush=True)
    started = time.perf_counter()
    result = broadcaster.to_room(ROOM, payload, sender=SENDER)
    elapsed = time.perf_counter() - started
    if result.delivered != len(members) or set(client.posted.values()) != {1}:
        sys.exit(f"{label}: expected one delivery per member, got {result}")
    if SENDER in client.posted:
        sys.exit(f"{label}: the sender was posted to")
    return elapsed


def table(rows: list[tuple[str, int, float]], members: int, latency_ms: float) -> str:
    lines = [
        "| run | concurrency | members | latency per call | time | posts/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, concurrency, seconds in rows:
        lines.append(
            f"| {label} | {concurrency} | {members} | {latency_ms:g} ms | {seconds:.2f} s "
            f"| {members / seconds:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--members", type=int, default=1000, choices=range(1, 5001), metavar="1-5000"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--concurrency", type=int, default=32, choices=range(2, 257), metavar="2-256"
    )
    args = parser.parse_args()
    if not 0 < args.latency_ms <= 100:
        parser.error("--latency-ms must be in (0, 100]")
    # Keep the sequential run (members x latency) bounded.
    if args.members * args.latency_ms / 1000 > 60:
        parser.error("members x latency must stay under 60 s for the sequential run")

    members = [f"member-{n:05d}=" for n in range(args.members)]
    latency = args.latency_ms / 1000
    concurrent = run("concurrent", members, latency, args.concurrency)
    sequential = run("sequential", members, latency, 1)
    ratio = sequential / concurrent
    ideal = args.members * latency / args.concurrency

    report = "\n".join(
        [
            table(
                [("sequential", 1, sequential), ("concurrent", args.concurrency, concurrent)],
                args.members,
                args.latency_ms,
            ),
            "",
            f"Speed-up: **{ratio:.1f}x** (target >= {TARGET:g}x: "
            f"{'met' if ratio >= TARGET else 'NOT met'}). "
            f"Ideal concurrent time N x latency / concurrency = {ideal:.2f} s.",
        ]
    )
    print()
    print(report)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        "# Fan-out benchmark\n\n"
        f"`scripts/bench_fanout.py`, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
        f"Python {sys.version.split()[0]}.\n\n{report}\n",
        encoding="utf-8",
    )
    print(f"\nwritten to {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
