"""How many `@connections` posts a broadcast keeps in flight, learned from the last ones.

A post is some CPU in this process (boto3 builds, sends and parses it: about 0.3 ms of a
full core, several times that in a small Lambda) and then a wait on the network (several
milliseconds to the regional endpoint). Posts in flight beyond what hides the wait only
queue for the GIL, and every hand-over of the GIL costs CPU of its own: 32 threads spent
about 60% more CPU per post than one did against a local endpoint that answers in 0.1 ms.
By Little's law the CPU stays busy with `ceil(1 + wait / cpu)` posts in flight; that is the
aim, at most FANOUT_CONCURRENCY, re-judged after each broadcast big enough to measure:

- CPU under 75% of the wall time: the wait was the limit, and it can be measured:
  `wait = in_flight * wall / posts - cpu / posts`. The aim follows from it, and the
  ratio of wait to CPU is remembered.
- CPU at 75-90%: near the limit; keep the number.
- CPU at 90% or more: the CPU was the limit, and the wait seen may be GIL queueing. With a
  ratio remembered, keep the number, or come down to the aim if above it (never below it:
  at the aim the CPU is meant to be busy). With none yet, halve, until a broadcast is not
  CPU-bound and the wait can be measured.

A container's first broadcast runs at the cap: nothing has been measured yet, and in AWS,
where the wait is many times the CPU, the aim is at or near it.
"""

from __future__ import annotations

import math
import threading

#: Fewer posts than this say too little about the wait to change course.
MIN_SAMPLE = 8
#: CPU over wall time at or above which the CPU was the limit.
CPU_BOUND = 0.9
#: CPU over wall time at or above which the number in flight is kept as it is.
NEAR_CPU_BOUND = 0.75


class FanoutPace:
    """The number of posts in flight for the next broadcast (thread-safe)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the limit must be at least 1")
        self.limit = limit
        self._in_flight = limit
        #: Wait over CPU per post, from the last broadcast that was not CPU-bound.
        self._wait_per_cpu: float | None = None
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def record(self, posts: int, in_flight: int, wall: float, cpu: float) -> None:
        """Learn from one broadcast: `posts` made with `in_flight` at once, in `wall`
        seconds, using `cpu` seconds of the process's CPU."""
        if posts < MIN_SAMPLE or wall <= 0:
            return
        cpu_per_post = cpu / posts
        with self._lock:
            if cpu_per_post <= 0:
                wanted = self.limit  # no CPU measured at all: only the wait counts
            elif cpu >= CPU_BOUND * wall:
                if self._wait_per_cpu is None:
                    wanted = in_flight // 2
                else:
                    wanted = min(in_flight, self._aim(self._wait_per_cpu))
            elif cpu >= NEAR_CPU_BOUND * wall:
                wanted = in_flight
            else:
                wait_per_post = max(0.0, in_flight * wall / posts - cpu_per_post)
                self._wait_per_cpu = wait_per_post / cpu_per_post
                wanted = self._aim(self._wait_per_cpu)
            self._in_flight = max(1, min(self.limit, wanted))

    @staticmethod
    def _aim(wait_per_cpu: float) -> int:
        return math.ceil(1 + wait_per_cpu)
