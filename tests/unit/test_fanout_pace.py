"""How many posts a broadcast keeps in flight, from the CPU and wall time of the last one."""

from __future__ import annotations

import pytest

from switchboard.fanout_pace import MIN_SAMPLE, FanoutPace

MS = 0.001


def measured(posts: int, in_flight: int, cpu_per_post: float, wait_per_post: float) -> FanoutPace:
    """A pace of limit 32 after a broadcast whose posts each took `cpu_per_post` of CPU and
    then waited `wait_per_post`, `in_flight` of them at a time (Little's law for the wall)."""
    pace = FanoutPace(32)
    wall = posts * (cpu_per_post + wait_per_post) / in_flight
    pace.record(posts, in_flight, wall, posts * cpu_per_post)
    return pace


def test_the_first_broadcast_runs_at_the_limit() -> None:
    assert FanoutPace(32).in_flight == 32
    assert FanoutPace(1).in_flight == 1


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FanoutPace(limit)


def test_too_few_posts_change_nothing() -> None:
    pace = FanoutPace(32)
    pace.record(MIN_SAMPLE - 1, 32, wall=1.0, cpu=1.0)  # CPU-bound, but too small to judge
    assert pace.in_flight == 32
    pace.record(MIN_SAMPLE, 32, wall=1.0, cpu=1.0)
    assert pace.in_flight == 16


def test_no_wall_time_changes_nothing() -> None:
    pace = FanoutPace(32)
    pace.record(100, 32, wall=1.0, cpu=1.0)
    pace.record(100, 16, wall=0.0, cpu=0.0)
    assert pace.in_flight == 16


@pytest.mark.parametrize("cpu", [0.9, 0.95, 1.0, 1.6])
def test_cpu_bound_with_nothing_measured_halves(cpu: float) -> None:
    pace = FanoutPace(32)
    pace.record(100, 32, wall=1.0, cpu=cpu)  # over 1.0: several cores' worth of threads
    assert pace.in_flight == 16
    pace.record(100, 16, wall=1.0, cpu=cpu)
    assert pace.in_flight == 8
    for _ in range(5):
        pace.record(100, pace.in_flight, wall=1.0, cpu=cpu)
    assert pace.in_flight == 1, "never below one"


def test_cpu_bound_at_the_aim_keeps_it() -> None:
    """The aim is where the CPU should be busy: a CPU-bound broadcast there is no reason to
    drop back (that made alternate broadcasts run one at a time, 7-12x slower)."""
    pace = measured(300, 8, cpu_per_post=0.35 * MS, wait_per_post=5 * MS)  # aim 16
    assert pace.in_flight == 16
    pace.record(300, 16, wall=300 * 0.35 * MS, cpu=300 * 0.35 * MS)  # CPU-bound at 16
    assert pace.in_flight == 16


def test_cpu_bound_above_the_aim_comes_down_to_it() -> None:
    pace = measured(300, 2, cpu_per_post=1 * MS, wait_per_post=3 * MS)  # aim 4
    assert pace.in_flight == 4
    pace.record(300, 12, wall=1.0, cpu=1.0)
    assert pace.in_flight == 4
    pace.record(300, 3, wall=1.0, cpu=1.0)  # below the aim: kept, not raised
    assert pace.in_flight == 3


def simulate(cpu_per_post: float, wait_per_post: float, broadcasts: int) -> list[int]:
    """The numbers in flight of successive broadcasts of 300 posts on one core: the wall is
    the CPU's time or the waits' spread over the posts in flight, whichever is longer."""
    pace, seen = FanoutPace(32), []
    for _ in range(broadcasts):
        in_flight = pace.in_flight
        seen.append(in_flight)
        cpu = 300 * cpu_per_post
        wall = max(cpu, 300 * (cpu_per_post + wait_per_post) / in_flight)
        pace.record(300, in_flight, wall, cpu)
    return seen


@pytest.mark.parametrize(
    ("cpu_ms", "wait_ms", "settles_at"),
    [
        (0.35, 5, 16),  # a large Lambda: the wait 14x the CPU
        (1, 7, 8),
        (2, 20, 11),
        (0.3, 20, 32),  # the wait over 31x the CPU: the limit throughout
        (0.35, 0.15, 2),  # the local gateway
    ],
)
def test_successive_broadcasts_settle(cpu_ms: float, wait_ms: float, settles_at: int) -> None:
    seen = simulate(cpu_ms * MS, wait_ms * MS, 12)
    assert seen[-6:] == [settles_at] * 6, seen


@pytest.mark.parametrize("cpu", [0.75, 0.8, 0.89])
def test_cpu_between_75_and_90_percent_keeps_the_number_in_flight(cpu: float) -> None:
    pace = FanoutPace(32)
    pace.record(100, 5, wall=1.0, cpu=cpu)
    assert pace.in_flight == 5, "kept what that broadcast had in flight, not the limit"
    pace.record(100, 1, wall=1.0, cpu=cpu)
    assert pace.in_flight == 1


def test_cpu_just_under_75_percent_follows_the_wait() -> None:
    """4 in flight, 7.4 ms CPU per post in 10 ms of wall per post: wait 40 - 7.4 ms, aim
    ceil(1 + 32.6 / 7.4) = 6."""
    pace = FanoutPace(32)
    pace.record(100, 4, wall=1.0, cpu=0.74)
    assert pace.in_flight == 6


def test_aws_like_posts_keep_the_limit() -> None:
    """0.3 ms of CPU and 20 ms of network wait per post: ceil(1 + 20 / 0.3) = 68, over 32."""
    pace = measured(320, 32, cpu_per_post=0.3 * MS, wait_per_post=20 * MS)
    assert pace.in_flight == 32


def test_the_aim_follows_the_wait_below_the_limit() -> None:
    """1 ms of CPU, 8.5 ms of wait, measured at 4 in flight: ceil(1 + 8.5) = 10."""
    pace = measured(40, 4, cpu_per_post=1 * MS, wait_per_post=8.5 * MS)
    assert pace.in_flight == 10


def test_local_like_sequential_posts_ask_for_two() -> None:
    """One at a time, 0.4 ms CPU in 0.58 ms of wall: wait 0.18 ms, ceil(1 + 0.45) = 2."""
    pace = FanoutPace(32)
    pace.record(100, 1, wall=100 * 0.58 * MS, cpu=100 * 0.4 * MS)
    assert pace.in_flight == 2


def test_the_aim_is_capped_at_the_limit() -> None:
    pace = FanoutPace(8)
    pace.record(100, 1, wall=100 * 10 * MS, cpu=100 * 0.1 * MS)  # aim 100
    assert pace.in_flight == 8


def test_a_limit_of_one_stays_one() -> None:
    pace = FanoutPace(1)
    pace.record(100, 1, wall=100 * 10 * MS, cpu=100 * 0.1 * MS)
    assert pace.in_flight == 1


def test_no_cpu_measured_goes_back_to_the_limit() -> None:
    pace = FanoutPace(16)
    pace.record(100, 16, wall=1.0, cpu=1.0)
    assert pace.in_flight == 8
    pace.record(100, 8, wall=0.5, cpu=0.0)
    assert pace.in_flight == 16
