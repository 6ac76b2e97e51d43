"""scripts/bench_gateway.py at a small size: its measurements run against both servers.

No timing is asserted (that is the benchmark's job, not a test's); what is asserted is that
the run completes and that every message reached every other client exactly once.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from scripts import bench_gateway as bench


def _temporaries() -> set[str]:
    """The bench's and the gateway's files and directories in the temporary directory."""
    found = Path(tempfile.gettempdir())
    return {str(p) for pattern in ("bench-*", "switchboard-*") for p in found.glob(pattern)}


def test_every_send_reaches_every_other_client_exactly_once() -> None:
    before = _temporaries()

    results = asyncio.run(bench.measure(10, 3, concurrency=5, warmup=1))

    # The servers' logs and temporary directories (the killed gateway's sockets) are gone.
    assert _temporaries() - before == set()
    assert set(results) == set(bench.SERVERS)
    for kind, result in results.items():
        assert result.problems == [], kind
        assert len(result.latencies_ms) == 3, kind
        assert result.connect_rate > 0, kind
    # The chat function's processes (forked from the zygote) are told apart from the rest.
    assert results["gateway"].server_cpu_ms.get("function processes", 0) > 0
    assert "other" not in results["gateway"].server_cpu_ms


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


def test_boto3_alone_is_priced_without_a_network() -> None:
    # The hook must answer every post: were one to reach 127.0.0.1:9 it would raise.
    unsigned = bench.boto3_post_cpu_ms(signed=False, calls=200)
    signed = bench.boto3_post_cpu_ms(signed=True, calls=200)

    assert 0 < unsigned < signed < 50  # SigV4 is work of its own


def _result(kind: str, size: int, p50: float) -> bench.Result:
    return bench.Result(kind, size, 1.0, [p50], [0.1], 1.0, {}, [], [])


def test_the_breakdown_prices_each_size_s_posts_against_the_reference() -> None:
    results = {
        (kind, size): _result(kind, size, p50)
        for kind, p50 in (("reference", 20.0), ("gateway", 300.0))
        for size in (100, 500)
    }
    price = bench.PostPrice(unsigned=0.2, signed=0.4)

    lines = bench.time_breakdown(results, [100, 500], price).splitlines()

    assert lines[-3].startswith("boto3 alone, CPU per post_to_connection answered at once")
    assert "0.200 ms unsigned" in lines[-3]
    assert "0.400 ms SigV4-signed" in lines[-3]
    assert lines[-2] == (
        "  @100: 99 posts = 19.8 ms unsigned (1.0x the reference's p50), 39.6 ms signed (2.0x)"
    )
    assert lines[-1] == (
        "  @500: 499 posts = 99.8 ms unsigned (5.0x the reference's p50), 199.6 ms signed (10.0x)"
    )
    assert "boto3" not in bench.time_breakdown(results, [100, 500])


def test_the_runs_summary_gives_each_metric_s_range_and_how_often_it_met_the_target() -> None:
    def rows(p50_ratio: float, rate_ratio: float) -> list[bench.Row]:
        return [
            bench.Row("fan-out p50 @500 (ms)", 20.0, 20.0 * p50_ratio, True),
            bench.Row("connect rate @500 (clients/s)", 1000.0, 1000.0 / rate_ratio, False),
        ]

    runs = [rows(14.0, 5.0), rows(16.0, 6.0), rows(18.0, 7.0)]

    assert bench.runs_summary(runs) == [
        ("fan-out p50 @500 (ms)", "14.0x", "16.0x", "18.0x", "1 of 3"),
        ("connect rate @500 (clients/s)", "5.0x", "6.0x", "7.0x", "3 of 3"),
    ]
    text = bench.summary_text(runs).splitlines()
    assert text[0] == "The ratio over 3 runs:"
    assert text[3].split() == [
        "fan-out",
        "p50",
        "@500",
        "(ms)",
        "14.0x",
        "16.0x",
        "18.0x",
        "1",
        "of",
        "3",
    ]
