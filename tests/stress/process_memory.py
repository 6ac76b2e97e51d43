"""Memory of the local gateway's processes, read from /proc (Linux).

The local gateway is a tree: the gateway, the embedded DynamoDB, the zygote and the function
processes forked from it. Forks share the zygote's pages, so RSS summed over the tree counts
those pages once per process; PSS (proportional set size) splits each shared page among its
sharers, so it is what each process really holds. A function pool may still grow by a
process late in a run (up to `--max-processes`), which adds memory without leaking any; so
flatness is judged on what could leak: the gateway, the embedded DynamoDB, and the mean
function process. The tree's total is reported beside them.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class TreeMemory:
    """One sample: seconds since the run started, and PSS (KiB) by role; RSS in total."""

    at: float
    processes: int
    rss_kib: int
    pss_kib: int
    gateway_kib: int
    dynamodb_kib: int
    functions_kib: int
    functions: int

    @property
    def function_mean_kib(self) -> float:
        return self.functions_kib / max(1, self.functions)


def available() -> bool:
    return (PROC / str(os.getpid()) / "smaps_rollup").exists()


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (from /proc/*/stat; `children` files are optional)."""
    parents = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: parse after its end.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int) -> list[int]:
    """The process and every process below it."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending += children.get(current, [])
    return tree


def _rollup(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) in KiB, or None when the process has gone."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0])
    return values.get("Rss", 0), values.get("Pss", 0)


def _is_dynamodb(pid: int) -> bool:
    try:
        return b"dynamodb_server" in (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False


def sample(pid: int, at: float) -> TreeMemory:
    """The tree under `pid` (the gateway): the gateway, its DynamoDB, its function processes
    (the zygote among them)."""
    rss = pss = processes = gateway = dynamodb = functions = function_count = 0
    for member in descendants(pid):
        rollup = _rollup(member)
        if rollup is None:
            continue
        processes += 1
        rss += rollup[0]
        pss += rollup[1]
        if member == pid:
            gateway = rollup[1]
        elif _is_dynamodb(member):
            dynamodb = rollup[1]
        else:
            functions += rollup[1]
            function_count += 1
    return TreeMemory(at, processes, rss, pss, gateway, dynamodb, functions, function_count)


@dataclass(frozen=True)
class Flatness:
    """Median PSS of one part in the first and the last window of a run."""

    part: str
    first_kib: float
    last_kib: float
    first_samples: int
    last_samples: int
    tolerance: float

    @property
    def growth(self) -> float:
        return self.last_kib / self.first_kib - 1

    @property
    def flat(self) -> bool:
        return self.last_kib <= self.first_kib * (1 + self.tolerance)

    def describe(self) -> str:
        first, last = self.first_kib / 1024, self.last_kib / 1024
        return f"{self.part} {first:.0f}->{last:.0f} MiB ({self.growth:+.1%})"


#: The parts whose memory must stay flat, and how to read each from a sample.
PARTS: dict[str, Callable[[TreeMemory], float]] = {
    "gateway": lambda m: m.gateway_kib,
    "DynamoDB": lambda m: m.dynamodb_kib,
    "function process (mean)": lambda m: m.function_mean_kib,
    "all": lambda m: m.pss_kib,
}


def flatness(samples: list[TreeMemory], window: float, tolerance: float) -> list[Flatness]:
    """Each part's first `window` seconds against its last; `all` is for the record."""
    start, end = samples[0].at, samples[-1].at
    first = [s for s in samples if s.at <= start + window]
    last = [s for s in samples if s.at >= end - window]
    return [
        Flatness(
            part,
            statistics.median(read(s) for s in first),
            statistics.median(read(s) for s in last),
            len(first),
            len(last),
            tolerance,
        )
        for part, read in PARTS.items()
    ]
