"""Async test functions under plain pytest: each runs in its own event loop, with a deadline."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec

P = ParamSpec("P")
AsyncTest = Callable[P, Coroutine[Any, Any, None]]


def async_test(timeout: float = 30.0) -> Callable[[AsyncTest[P]], Callable[P, None]]:
    """Run the coroutine test with `asyncio.run`, failing it after `timeout` seconds.

    `functools.wraps` keeps the signature, so pytest still injects the test's fixtures.
    """

    def decorate(test: AsyncTest[P]) -> Callable[P, None]:
        @functools.wraps(test)
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            async def bounded() -> None:
                try:
                    async with asyncio.timeout(timeout) as scope:
                        await test(*args, **kwargs)
                except TimeoutError:
                    if scope.expired():
                        raise AssertionError(
                            f"{test.__name__} did not finish within {timeout} s"
                        ) from None
                    raise

            asyncio.run(bounded())

        return run

    return decorate
