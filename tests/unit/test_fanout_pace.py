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
    assert pace.in_flight == 1


def test_no_wall_time_changes_nothing() -> None:
    pace = FanoutPace(32)
    pace.record(100, 32, wall=1.0, cpu=1.0)
    pace.record(100, 1, wall=0.0, cpu=0.0)
    assert pace.in_flight == 1


@pytest.mark.parametrize("cpu", [0.9, 0.95, 1.0, 1.6])
def test_cpu_at_or_over_90_percent_of_the_wall_probes_one_at_a_time(cpu: float) -> None:
    pace = FanoutPace(32)
    pace.record(100, 32, wall=1.0, cpu=cpu)  # over 1.0: several cores' worth of threads
    assert pace.in_flight == 1


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
    assert pace.in_flight == 1
    pace.record(100, 1, wall=0.5, cpu=0.0)
    assert pace.in_flight == 16
