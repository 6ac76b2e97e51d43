"""Each function runs with its own environment and its own module globals, as in Lambda.

EnvAFunction and EnvBFunction share one handler module but not a process: each sees only
the Environment the template gives it, and a global one of them sets stays its own.
"""

from __future__ import annotations

from tests.integration.async_test import async_test
from tests.integration.event_log import new_tag
from tests.integration.local_gateway import LocalGateway
from tests.integration.ws_clients import client, request, url


@async_test()
async def test_each_function_sees_only_its_own_environment(fixture_gateway: LocalGateway) -> None:
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        a = await request(ws, {"action": "env-a"})
        b = await request(ws, {"action": "env-b"})
    assert a["env"] == {
        "FLAVOUR": "a",
        "ONLY_A": "1",
        "ONLY_B": None,
        "SHARED": "global",  # from Globals
        "LEAK_CANARY": None,  # set in the gateway's own environment only
        "AWS_LAMBDA_FUNCTION_NAME": "EnvAFunction",
    }
    assert b["env"] == {
        "FLAVOUR": "b",
        "ONLY_A": None,
        "ONLY_B": "1",
        "SHARED": "global",
        "LEAK_CANARY": None,
        "AWS_LAMBDA_FUNCTION_NAME": "EnvBFunction",
    }
    assert a["pid"] != b["pid"]


@async_test()
async def test_module_globals_stay_with_their_function(fixture_gateway: LocalGateway) -> None:
    mark = new_tag()
    async with client(url(fixture_gateway.stage_url, token="allow", tag=new_tag())) as ws:
        set_in_a = await request(ws, {"action": "env-a", "set": mark})
        seen_by_b = [await request(ws, {"action": "env-b"}) for _ in range(3)]
        # A warm process keeps its globals, as a warm Lambda container does: that is what
        # makes the check on EnvBFunction mean something. The pool may hand out its other
        # warm processes first; ask until the one that set the mark answers again.
        for _ in range(16):
            seen_by_a = await request(ws, {"action": "env-a"})
            if seen_by_a["pid"] == set_in_a["pid"]:
                break
    assert set_in_a["mark"] == mark
    assert all(seen["mark"] != mark for seen in seen_by_b)
    assert seen_by_a["pid"] == set_in_a["pid"], "the process that set the mark never answered again"
    assert seen_by_a["mark"] == mark
