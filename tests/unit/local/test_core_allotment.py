"""Cores for function processes: Lambda's vCPUs for a memory size, handed out in turn."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from pathlib import Path
from typing import Any, cast

import pytest

from switchboard.local.core_allotment import (
    CoreAllotment,
    hold_to,
    lambda_vcpus,
    schedule_as_batch,
)
from switchboard.local.functions import FunctionProcess
from switchboard.local.template_model import FunctionModel


@pytest.mark.parametrize(
    ("memory_mb", "vcpus"),
    [(128, 1), (256, 1), (1769, 1), (1770, 2), (3538, 2), (3539, 3), (10240, 6)],
)
def test_lambda_gives_one_vcpu_per_1769_mb_rounded_up(memory_mb: int, vcpus: int) -> None:
    assert lambda_vcpus(memory_mb) == vcpus


def test_one_core_processes_take_the_cores_in_turn() -> None:
    allotment = CoreAllotment([0, 1, 2])
    assert [allotment.allot("Chat", 256) for _ in range(4)] == [[0], [1], [2], [0]]


def test_each_function_keeps_its_own_turns_and_starts_on_the_next_core() -> None:
    allotment = CoreAllotment([0, 1])
    # Started in a burst's order: one function's processes still alternate.
    order = ["Auth", "Connect", "Auth", "Auth", "Connect", "Auth", "Connect", "Connect"]
    given: dict[str, list[int]] = {"Auth": [], "Connect": []}
    for function in order:
        cores = allotment.allot(function, 256)
        assert cores is not None
        given[function] += cores
    assert given == {"Auth": [0, 1, 0, 1], "Connect": [1, 0, 1, 0]}


def test_wider_functions_take_neighbouring_cores_wrapping_round() -> None:
    allotment = CoreAllotment([2, 3, 5, 7, 11])
    assert allotment.allot("Wide", 3538) == [2, 3]
    assert allotment.allot("Wide", 3538) == [5, 7]
    assert allotment.allot("Wide", 3538) == [11, 2]
    assert allotment.allot("Narrow", 128) == [3], "the next function starts a core further on"


def test_a_function_that_may_use_every_core_is_not_held() -> None:
    allotment = CoreAllotment([0, 1])
    assert allotment.allot("Wide", 3538) is None
    assert allotment.allot("Widest", 10240) is None
    assert allotment.allot("Narrow", 128) == [0], "an unheld function does not use up a turn"


def test_without_cores_nothing_is_held() -> None:
    assert CoreAllotment(None).allot("Chat", 128) is None
    assert CoreAllotment([]).allot("Chat", 128) is None


def _cores_after_hold(cores: list[int] | None, answer: multiprocessing.SimpleQueue[object]) -> None:
    hold_to(cores)
    answer.put(sorted(os.sched_getaffinity(0)))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
@pytest.mark.parametrize("held", [None, "first", "gone"])
def test_hold_to_holds_the_process_or_leaves_it_be(held: str | None) -> None:
    available = sorted(os.sched_getaffinity(0))
    cores = {None: None, "first": available[:1], "gone": [max(available) + 1000]}[held]
    # In a child: holding this test process would slow the rest of the run.
    context = multiprocessing.get_context("fork")
    answer = context.SimpleQueue()
    child = context.Process(target=_cores_after_hold, args=(cores, answer))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    expected = available[:1] if held == "first" else available
    assert answer.get() == expected


def _policy_after_batch(answer: multiprocessing.SimpleQueue[object]) -> None:
    schedule_as_batch()
    answer.put(os.sched_getscheduler(0))


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="no batch scheduling here")
def test_schedule_as_batch_needs_no_privilege() -> None:
    policy_before = os.sched_getscheduler(0)
    if policy_before == os.SCHED_BATCH:
        pytest.skip("this test run is batch work already: nothing to tell apart")
    context = multiprocessing.get_context("fork")
    answer = context.SimpleQueue()
    child = context.Process(target=_policy_after_batch, args=(answer,))
    child.start()
    child.join(10)
    assert child.exitcode == 0
    assert answer.get() == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == policy_before, "the test process itself was changed"


def test_a_freed_core_is_taken_again_before_the_next_turn() -> None:
    allotment = CoreAllotment([0, 1, 2])
    first, second, third = (allotment.allot("Chat", 256) for _ in range(3))
    assert (first, second, third) == ([0], [1], [2])
    allotment.release("Chat", second)  # it crashed, or ran past its timeout
    assert allotment.allot("Chat", 256) == [1], "the replacement did not take the freed core"
    assert allotment.allot("Chat", 256) == [2], "then turns go on from there"


def test_release_counts_per_function_and_ignores_what_it_never_gave() -> None:
    allotment = CoreAllotment([0, 1])
    assert allotment.allot("Chat", 256) == [0]
    assert allotment.allot("Auth", 256) == [1]
    allotment.release("Auth", [1])
    allotment.release("Auth", [1])  # twice: not below none
    allotment.release("Chat", [7])  # a core it does not have
    allotment.release("Nobody", [0])
    allotment.release("Chat", None)
    assert allotment.allot("Chat", 256) == [1], "Chat still holds core 0"
    assert allotment.allot("Auth", 256) == [0], "Auth holds nothing: its next turn"


class _Spawner:
    """Spawns nothing: hands out cores and a process that says it is ready."""

    def __init__(self) -> None:
        self.cores = CoreAllotment([0, 1])
        self.held: list[list[int] | None] = []

    async def spawn(
        self, model: Any, env: dict[str, str], cores: list[int] | None = None
    ) -> tuple[int, asyncio.StreamReader, Any]:
        self.held.append(cores)
        reader = asyncio.StreamReader()
        reader.feed_data(b'{"ready":true}\n')
        return 0, reader, None


def test_a_function_process_gives_its_cores_back_once_when_it_ends(tmp_path: Path) -> None:
    model = FunctionModel(
        logical_id="Chat",
        handler="app.handler",
        code_dir=tmp_path,
        runtime="python3.13",
        timeout=3,
        memory_mb=256,
        environment={},
        log_group="/aws/lambda/Chat",
    )
    spawner = _Spawner()

    async def scenario() -> None:
        first = FunctionProcess(model, {}, cast(Any, spawner))
        second = FunctionProcess(model, {}, cast(Any, spawner))
        await first.start()
        await second.start()
        first.kill()
        first.kill()
        await first.stop()
        replacement = FunctionProcess(model, {}, cast(Any, spawner))
        await replacement.start()
        await second.stop()
        await replacement.stop()

    asyncio.run(scenario())
    assert spawner.held == [[0], [1], [0]]
    assert spawner.cores.allot("Chat", 256) == [1], "a stopped process kept its core"
    assert spawner.cores.allot("Chat", 256) == [0]
