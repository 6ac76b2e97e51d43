"""Each function process is held to as many cores as Lambda's CPU share for its memory
(rounded up), as batch work.

EnvAFunction has the default 128 MB (a fraction of a vCPU in Lambda, and so one core
here), and EnvBFunction 3,538 MB (two vCPUs' worth). The threads a handler starts are held
with it; the gateway itself runs anywhere, scheduled as usual. `--no-core-pinning` lets
function processes run on any core.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.async_test import async_test
from tests.integration.event_log import new_tag
from tests.integration.local_gateway import FIXTURE_TEMPLATE, LocalGateway, running_gateway
from tests.integration.ws_clients import client, request, url

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity"), reason="this platform has no CPU affinity"
)


def _available() -> list[int]:
    return sorted(os.sched_getaffinity(0))


@async_test()
async def test_a_function_process_is_held_to_the_cores_its_memory_buys(
    fixture_gateway: LocalGateway,
) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        a = await request(ws, {"action": "env-a"})
        b = await request(ws, {"action": "env-b"})
    available = _available()
    assert len(a["cores"]) == 1
    assert set(a["cores"]) <= set(available)
    assert a["thread_cores"] == a["cores"], "a thread the handler starts escaped its core"
    assert a["batch"] is True
    assert b["batch"] is True
    # The gateway is scheduled as the test run that started it is.
    assert os.sched_getscheduler(fixture_gateway.process.pid) == os.sched_getscheduler(0)
    assert len(b["cores"]) == min(2, len(available))
    assert set(b["cores"]) <= set(available)
    assert sorted(os.sched_getaffinity(fixture_gateway.process.pid)) == available


@async_test()
async def test_no_core_pinning_lets_function_processes_run_anywhere(
    tmp_path: Path, event_dir: Path
) -> None:
    with running_gateway(
        FIXTURE_TEMPLATE,
        tmp_path / "gateway.stderr",
        "--no-core-pinning",
        "--parameter-overrides",
        f"EventLogDir={event_dir}",
    ) as gateway:
        async with client(url(gateway.stage_url, token="allow", tag=new_tag())) as ws:
            a = await request(ws, {"action": "env-a"})
    assert a["cores"] == _available()
    assert a["thread_cores"] == _available()
