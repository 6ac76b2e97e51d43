"""Where function processes run: on as many cores as Lambda's CPU share, as batch work.

Lambda allots CPU in proportion to memory: the equivalent of one vCPU at 1,769 MB, six at
10,240 MB, and a fraction of one below 1,769 MB. Each local function process is held to
that many whole cores, rounded up (one for every function of the chat stack): those
where the function has the fewest live processes, taking turns among equals, with each
function starting its turns a core after the last. Busy processes spread over the machine,
and a process that replaces one that crashed or timed out takes the core it freed.

This is not only fidelity. A fan-out posts from several threads, which hand CPython's
GIL to each other at every socket call; when the scheduler wakes the next thread on
another core, each hand-over crosses cores. Held to one core, a 500-member broadcast
took about 20% less time (and 10% less CPU) on a 2-core machine (see the README's
benchmarks).

Function processes are also scheduled as batch work (Linux's SCHED_BATCH: no preempting
on wake-up). A posting thread woken by its answer would otherwise preempt the thread that
holds the GIL, only to wait for it: about four context switches per post instead of two.
Batch work also leaves the gateway's event loop, which wakes for every frame and every
`@connections` call, first in line for a core. Together with holding each process to one
core, a 500-member broadcast took about 30% less time on a 2-core machine.

Where the platform has neither (macOS), processes run where and as the scheduler decides.
"""

from __future__ import annotations

import contextlib
import math
import os

#: Lambda's memory per vCPU (MB): 1,769 MB buys the equivalent of one full vCPU.
LAMBDA_MB_PER_VCPU = 1769


def lambda_vcpus(memory_mb: int) -> int:
    """Lambda's CPU share for a function of this memory size, in whole cores (rounded up)."""
    return max(1, math.ceil(memory_mb / LAMBDA_MB_PER_VCPU))


def available_cores() -> list[int] | None:
    """The cores this process may run on, or None where affinity is not supported."""
    getter = getattr(os, "sched_getaffinity", None)
    if getter is None:
        return None
    return sorted(getter(0))


class CoreAllotment:
    """Hands each new function process its cores, and takes them back when it ends."""

    def __init__(self, cores: list[int] | None) -> None:
        #: None: no pinning (not supported, or turned off).
        self.cores = cores or None
        #: Where each function's next turn starts (an index into `cores`), by logical id.
        self._next: dict[str, int] = {}
        #: Where the next function to ask starts: functions spread over the cores too.
        self._first = 0
        #: Each function's live processes held to each core (by index into `cores`).
        self._live: dict[str, list[int]] = {}

    def allot(self, function: str, memory_mb: int) -> list[int] | None:
        """The cores for a new process of this function, or None: any core.

        Counted per function: a pool's processes spread over the cores whatever other
        functions start in between (a burst of connects starts authorizer and `$connect`
        processes in any order). Give them back with `release` when the process ends.
        """
        if self.cores is None:
            return None
        size = len(self.cores)
        count = lambda_vcpus(memory_mb)
        if count >= size:
            return None  # it may use them all: nothing to hold it to
        live = self._live.setdefault(function, [0] * size)
        start = self._next.get(function)
        if start is None:
            start = self._first
            self._first = (self._first + 1) % size

        def held(offset: int) -> int:
            return sum(live[(start + offset + i) % size] for i in range(count))

        # The least-held run of cores; among equals, the next in turn.
        chosen = (start + min(range(size), key=lambda offset: (held(offset), offset))) % size
        self._next[function] = (chosen + count) % size
        indexes = [(chosen + i) % size for i in range(count)]
        for index in indexes:
            live[index] += 1
        return [self.cores[index] for index in indexes]

    def release(self, function: str, cores: list[int] | None) -> None:
        """A process of this function that was held to these cores has ended."""
        live = self._live.get(function)
        if not cores or self.cores is None or live is None:
            return
        for core in cores:
            if core in self.cores:
                index = self.cores.index(core)
                live[index] = max(0, live[index] - 1)


def hold_to(cores: list[int] | None) -> None:
    """Hold the calling process (and the threads it starts later) to these cores."""
    setter = getattr(os, "sched_setaffinity", None)
    if not cores or setter is None:
        return
    # A core taken away since (a container's CPU set changed): run anywhere instead.
    with contextlib.suppress(OSError):
        setter(0, cores)


def schedule_as_batch() -> None:
    """Schedule the calling process (and the threads it starts later) as batch work."""
    setter = getattr(os, "sched_setscheduler", None)
    policy = getattr(os, "SCHED_BATCH", None)
    if setter is None or policy is None:
        return
    # Any process may lower its own claim: this needs no privilege, and cannot fail for it.
    with contextlib.suppress(OSError):
        setter(0, policy, os.sched_param(0))
