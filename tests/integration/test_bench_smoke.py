"""scripts/bench_gateway.py at a small size: its measurements run against both servers.

No timing is asserted (that is the benchmark's job, not a test's); what is asserted is that
the run completes and that every message reached every other client exactly once.
"""

from __future__ import annotations

import asyncio

from scripts import bench_gateway as bench


def test_every_send_reaches_every_other_client_exactly_once() -> None:
    results = asyncio.run(bench.measure(10, 3, concurrency=5, warmup=1))

    assert set(results) == set(bench.SERVERS)
    for kind, result in results.items():
        assert result.problems == [], kind
        assert len(result.latencies_ms) == 3, kind
        assert result.connect_rate > 0, kind


def test_the_delivery_check_reports_lost_duplicated_and_echoed_messages() -> None:
    logs = [bench.ClientLog(i) for i in range(4)]
    sent = bench.Round(seq=0, sender=0, recipients=3)
    logs[0].messages[0] = 1  # the sender got its own message back
    logs[1].messages[0] = 2  # a duplicate
    logs[2].messages[0] = 1
    # client 3 never got it, and the sender got no ack

    problems = bench.delivery_problems(logs, [sent])

    assert problems == [
        "send 0: client 0 got the message 1 times, expected 0",
        "send 0: client 1 got the message 2 times, expected 1",
        "send 0: client 3 got the message 0 times, expected 1",
        "send 0: the sender got 0 acks, expected 1",
    ]
