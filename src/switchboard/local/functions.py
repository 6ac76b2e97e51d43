"""Warm pools of function processes: the local stand-in for Lambda execution environments.

Each function of the template gets its own processes with its own environment, as Lambda
gives each function its own containers: threads would share `os.environ` and module
globals. A process serves one invocation at a time; a pool grows on demand up to a bound,
keeps processes warm, and replaces any that crash or run past their timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

from switchboard.local.template_model import FunctionModel

log = logging.getLogger("switchboard.local")
_STREAM_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True)
class Invocation:
    """How one invocation ended: a result, a handler error, or a timeout."""

    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    duration_ms: float = 0.0


class FunctionProcess:
    """One warm execution environment."""

    _ids = itertools.count(1)

    def __init__(self, model: FunctionModel, env: dict[str, str]) -> None:
        self.model = model
        self.number = next(self._ids)
        self._env = env
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "switchboard.local.worker",
            self.model.handler,
            str(self.model.code_dir),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self._env,
            cwd=str(self.model.code_dir),
            limit=_STREAM_LIMIT,
        )
        assert self._process.stdout is not None
        ready = await self._process.stdout.readline()
        if not ready:
            raise RuntimeError(f"{self.model.logical_id}: the function process exited at start")

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def invoke(self, event: Any, request_id: str, timeout: float) -> Invocation:
        process = self._process
        assert process is not None and process.stdin is not None and process.stdout is not None
        started = time.perf_counter()
        request = {"event": event, "requestId": request_id, "deadline": time.time() + timeout}
        process.stdin.write(json.dumps(request).encode() + b"\n")
        try:
            await process.stdin.drain()
            line = await asyncio.wait_for(process.stdout.readline(), timeout)
        except TimeoutError:
            self.kill()
            return Invocation(False, timed_out=True, duration_ms=timeout * 1000)
        except (ConnectionError, BrokenPipeError):
            line = b""
        duration = (time.perf_counter() - started) * 1000
        if not line:
            self.kill()
            return Invocation(
                False,
                error={
                    "errorType": "Runtime.ExitError",
                    "errorMessage": "the function process exited",
                },
                duration_ms=duration,
            )
        answer = json.loads(line)
        return Invocation(
            bool(answer["ok"]), answer.get("result"), answer.get("error"), duration_ms=duration
        )

    def kill(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()

    async def stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), timeout=3)
        except TimeoutError:
            process.kill()
            await process.wait()


class FunctionPool:
    """The warm processes of one function, at most `max_processes` at once.

    An invocation takes the first process to become free: an idle one, or one it starts
    when all are busy, whichever is ready first (a cold start is ~0.3 s, a warm
    invocation a few ms, so waiting for a busy process is often quicker).
    """

    def __init__(self, model: FunctionModel, env: dict[str, str], max_processes: int) -> None:
        self.model = model
        self._env = env
        self._max = max_processes
        self._idle: asyncio.Queue[FunctionProcess] = asyncio.Queue()
        self._all: set[FunctionProcess] = set()
        self._starting = 0
        self._spawns: set[asyncio.Task[None]] = set()

    @property
    def size(self) -> int:
        return len(self._all) + self._starting

    async def warm(self) -> None:
        """Start one process ahead of the first invocation (a cold start at start-up)."""
        if self.size == 0:
            self._starting += 1
            await self._spawn()

    async def _spawn(self) -> None:
        process = FunctionProcess(self.model, self._env)
        try:
            await process.start()
        except Exception:
            log.exception("%s: could not start a function process", self.model.logical_id)
            process.kill()
            return
        finally:
            self._starting -= 1
        self._all.add(process)
        self._idle.put_nowait(process)

    async def invoke(self, event: Any, request_id: str, timeout: float) -> Invocation:
        if self._idle.empty() and self.size < self._max:
            self._starting += 1
            task = asyncio.get_running_loop().create_task(self._spawn())
            self._spawns.add(task)
            task.add_done_callback(self._spawns.discard)
        try:
            process = await asyncio.wait_for(self._idle.get(), timeout)
        except TimeoutError:
            return Invocation(False, timed_out=True, duration_ms=timeout * 1000)
        try:
            result = await process.invoke(event, request_id, timeout)
        except BaseException:
            process.kill()
            self._all.discard(process)
            raise
        if process.alive:
            self._idle.put_nowait(process)
        else:
            self._all.discard(process)
        return result

    async def stop(self) -> None:
        for task in list(self._spawns):
            task.cancel()
        processes = list(self._all)
        self._all.clear()
        with contextlib.suppress(Exception):
            await asyncio.gather(*(p.stop() for p in processes))
