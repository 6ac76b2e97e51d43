"""Load on the real chat: connections held with churn and broadcasts, then nothing leaked.

Two profiles of one run (see load_run.py): a short one in every test run (CI), and the full
one (1,000 connections for four minutes) with `--run-slow`, which `scripts/stress` runs.
History is off (`HistoryRetentionDays=0`): stored messages are data the table is meant to
grow by, and would hide a leak in the memory check; everything else is the product as
deployed. Afterwards:

- every acknowledged message reached every connection of its room that stayed, exactly once
  and in each sender's order; no acknowledgement counted a failed post;
- the table holds exactly the live connections' records and memberships, and nothing once
  they have all gone;
- the memory (PSS) of the gateway and all its processes is as high at the end of the traffic
  as at its start, within the tolerance: first and last quarter in the short profile, first
  and last minute in the full one.
"""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path

import pytest

from tests.integration.async_test import async_test
from tests.integration.local_gateway import APP_TEMPLATE, start_gateway, stop_cleanly
from tests.plugins.stress_report import Record
from tests.stress import process_memory
from tests.stress.load_run import LoadProfile, LoadResult, run_load
from tests.stress.scenario import Row, expected_records, scenario, wait_for_records

SHORT = LoadProfile(
    name="CI profile",
    stayers=200,
    churn_slots=20,
    room_size=10,
    seconds=10,
    senders_per_room=1,
    send_interval=1.0,
    lifetime=(1.0, 3.0),
    warmup=6,
    memory_window=2.5,
    memory_tolerance=0.10,
    sample_every=0.5,
)
FULL = LoadProfile(
    name="full profile",
    stayers=1000,
    churn_slots=50,
    room_size=50,
    seconds=240,
    senders_per_room=2,
    send_interval=4.0,
    lifetime=(5.0, 15.0),
    warmup=60,
    memory_window=60.0,
    memory_tolerance=0.10,
    sample_every=2.0,
)


def allow_open_files(needed: int) -> None:
    """Raise this process's soft limit (the gateway inherits it) when the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        top = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        if top < needed:
            pytest.skip(f"needs {needed} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


async def held_and_checked(profile: LoadProfile, tmp_path: Path, report: Record) -> None:
    if not process_memory.available():
        pytest.skip("needs /proc/PID/smaps_rollup (Linux) to measure memory")
    # Each client: its socket here and the gateway's side, plus DynamoDB and process pipes.
    allow_open_files(3 * (profile.stayers + profile.churn_slots) + 1024)
    with scenario(report, f"load, {profile.name}", profile.describe()) as row:
        gateway = start_gateway(
            APP_TEMPLATE,
            tmp_path / "gateway.stderr",
            "--parameter-overrides",
            "HistoryRetentionDays=0",
        )
        try:
            result = await run_load(profile, gateway.stage_url, gateway.process.pid)
            delivery_checks(result, row)
            wanted = {
                str(c.connection_id): expected_records(str(c.connection_id), {str(c.room)})
                for c in result.live
            }
            found = await wait_for_records(gateway, wanted, timeout=60)
            items = sum(len(keys) for keys in wanted.values())
            row.add(f"table exact: {len(wanted)} live connections, {items} items")
            assert found == wanted, table_difference(found, wanted)
            memory_check(result, row)
            await asyncio.gather(*(c.close() for c in result.live), return_exceptions=True)
            # Every close tells the room: rooms of N cost about N/2 posts per close.
            leftover = await wait_for_records(gateway, {}, timeout=120)
            assert leftover == {}, f"{len(leftover)} connections left records after closing"
            row.add("empty after all closed")
        except BaseException:
            gateway.kill()
            raise
        await asyncio.to_thread(stop_cleanly, gateway)


def delivery_checks(result: LoadResult, row: Row) -> None:
    counts = result.accounting()
    p50, p99 = result.ack_percentiles()
    held = result.held or [0]
    row.add(
        f"held {min(held)}-{max(held)} connections ({result.churn_connects} churn connects, "
        f"{result.churn_drops} TCP drops); connected in {result.ramp_seconds:.0f} s"
    )
    row.add(
        f"sent {len(result.sent)}, delivered {counts['delivered']} of {counts['expected']}, "
        f"lost {counts['lost']}, duplicated {counts['duplicated']}, "
        f"out of order {counts['out_of_order']}; ack p50 {p50:.0f} ms, p99 {p99:.0f} ms"
    )
    assert not result.bad_replies, f"sends not acknowledged cleanly: {result.bad_replies[:5]}"
    assert min(held) >= result.profile.stayers, "a connection that should stay was lost"
    assert counts["expected"] > 0 and result.churn_connects > result.profile.churn_slots
    assert (counts["lost"], counts["duplicated"], counts["out_of_order"]) == (0, 0, 0)
    assert counts["misrouted"] == 0, "a stayer received a message of another room"
    unexpected = [f for c in [*result.stayers, *result.churners] for f in c.unexpected]
    assert not unexpected, f"frames no request asked for: {unexpected[:5]}"


def memory_check(result: LoadResult, row: Row) -> None:
    """The gateway, the DynamoDB and the mean function process flat; the total reported."""
    profile = result.profile
    parts = process_memory.flatness(result.memory, profile.memory_window, profile.memory_tolerance)
    processes = {m.processes for m in result.memory}
    row.add(
        "PSS "
        + ", ".join(part.describe() for part in parts)
        + f", limit +{profile.memory_tolerance:.0%}; {len(result.memory)} samples, "
        f"{min(processes)}-{max(processes)} processes"
    )
    assert parts[0].first_samples >= 3 and parts[0].last_samples >= 3, "too few samples"
    grown = [part.describe() for part in parts if part.part != "all" and not part.flat]
    assert not grown, f"memory grew: {grown}"


def table_difference(
    found: dict[str, set[tuple[str, str]]], wanted: dict[str, set[tuple[str, str]]]
) -> str:
    leaked = {cid: keys for cid, keys in found.items() if cid not in wanted}
    missing = [cid for cid in wanted if cid not in found]
    wrong = {cid: found[cid] ^ wanted[cid] for cid in wanted if cid in found}
    wrong = {cid: keys for cid, keys in wrong.items() if keys}
    return (
        f"leaked records of {len(leaked)} connections (e.g. {list(leaked.items())[:2]}), "
        f"{len(missing)} live connections without records, {len(wrong)} with other items "
        f"(e.g. {list(wrong.items())[:2]})"
    )


@pytest.mark.timeout(240)
@async_test(timeout=200)
async def test_load_short_profile(tmp_path: Path, stress_report: Record) -> None:
    await held_and_checked(SHORT, tmp_path, stress_report)


@pytest.mark.slow
@pytest.mark.timeout(1200)
@async_test(timeout=1100)
async def test_load_full_profile(tmp_path: Path, stress_report: Record) -> None:
    await held_and_checked(FULL, tmp_path, stress_report)
