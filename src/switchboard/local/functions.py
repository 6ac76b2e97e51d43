"""Warm pools of function processes: the local stand-in for Lambda execution environments.

Each function of the template gets its own processes with its own environment, as Lambda
gives each function its own containers: threads would share `os.environ` and module
globals. Processes are forked from a zygote that has boto3 imported already, so a cold
start costs milliseconds. A process serves one invocation at a time; a pool grows on demand
up to a bound, keeps processes warm, and replaces any that crash or run past their timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from switchboard.local.child_process import start_child, stop_child
from switchboard.local.core_allotment import CoreAllotment
from switchboard.local.template_model import FunctionModel

log = logging.getLogger("switchboard.local")
_STREAM_LIMIT = 16 * 1024 * 1024
#: A Unix socket's path must fit `sun_path`: 108 bytes on Linux, 104 on macOS.
SOCKET_PATH_MAX = 103
#: The longest socket name put in the directory ("workers.sock", "gateway.sock").
SOCKET_NAME_MAX = 16


def socket_directory() -> str:
    """A private temporary directory whose sockets' paths fit AF_UNIX's limit.

    It is made under TMPDIR as usual; where that is too deep (a long TMPDIR, a test's
    tmp_path), under /tmp instead, rather than failing with "AF_UNIX path too long".
    """
    directory = tempfile.mkdtemp(prefix="switchboard-")
    if len(os.fsencode(directory)) + 1 + SOCKET_NAME_MAX <= SOCKET_PATH_MAX:
        return directory
    os.rmdir(directory)
    return tempfile.mkdtemp(prefix="switchboard-", dir="/tmp")


def time_limit(model: FunctionModel, integration_timeout: float) -> tuple[float, bool]:
    """How long an invocation may run, and whether that is the function's own Timeout.

    Whichever limit comes first decides what a timeout means: the function's Timeout is a
    Lambda timeout, a failed integration; the integration timeout is API Gateway giving up.
    """
    if model.timeout < integration_timeout:
        return float(model.timeout), True
    return integration_timeout, False


@dataclass(frozen=True)
class Invocation:
    """How one invocation ended: a result, a handler error, or a timeout."""

    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    duration_ms: float = 0.0


class Spawner:
    """Starts function processes by asking the zygote (see zygote.py) to fork one."""

    def __init__(self, cores: CoreAllotment | None = None) -> None:
        #: Which cores each new process is held to (see core_allotment); none by default.
        self.cores = cores if cores is not None else CoreAllotment(None)
        self._directory = socket_directory()
        self._socket_path = os.path.join(self._directory, "workers.sock")
        self._server: asyncio.Server | None = None
        self._zygote: asyncio.subprocess.Process | None = None
        self._waiting: dict[
            int, asyncio.Future[tuple[int, asyncio.StreamReader, asyncio.StreamWriter]]
        ] = {}
        self._ids = itertools.count(1)
        #: Origins (the gateway's `http://host:port`) that processes reach on a Unix socket.
        self.unix_sockets: dict[str, str] = {}

    def socket_path(self, name: str) -> str:
        """A path for another Unix socket, in the directory removed at stop."""
        if len(name) > SOCKET_NAME_MAX:
            raise ValueError(f"socket name {name!r} is longer than {SOCKET_NAME_MAX}")
        return os.path.join(self._directory, name)

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(
            self._on_worker, self._socket_path, limit=_STREAM_LIMIT
        )
        self._zygote, ready = await start_child("switchboard.local.zygote", self._socket_path)
        if ready != b"READY":
            raise RuntimeError("the function process zygote did not start")

    async def spawn(
        self, model: FunctionModel, env: dict[str, str], cores: list[int] | None = None
    ) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
        """Fork a process for this function, held to `cores` (None: any core)."""
        zygote = self._zygote
        if zygote is None or zygote.stdin is None or zygote.returncode is not None:
            raise RuntimeError("the function process zygote is not running")
        spawn_id = next(self._ids)
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[spawn_id] = waiter
        request = {
            "id": spawn_id,
            "handler": model.handler,
            "code_dir": str(model.code_dir),
            "env": env,
            "unix_sockets": self.unix_sockets,
            "cores": cores,
        }
        zygote.stdin.write(json.dumps(request).encode() + b"\n")
        try:
            await zygote.stdin.drain()
            return await asyncio.wait_for(waiter, timeout=60)
        finally:
            self._waiting.pop(spawn_id, None)

    async def _on_worker(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hello = json.loads(await reader.readline() or b"{}")
        waiter = self._waiting.get(int(hello.get("id", 0)))
        if waiter is None or waiter.done():
            writer.close()
            return
        waiter.set_result((int(hello["pid"]), reader, writer))

    async def stop(self) -> None:
        await stop_child(self._zygote, grace=3)
        if self._server is not None:
            self._server.close()
        shutil.rmtree(self._directory, ignore_errors=True)


class FunctionProcess:
    """One warm execution environment: a forked process serving one invocation at a time."""

    def __init__(self, model: FunctionModel, env: dict[str, str], spawner: Spawner) -> None:
        self.model = model
        self._env = env
        self._spawner = spawner
        self._pid = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._dead = False
        #: The cores it is held to, until it ends (see core_allotment).
        self._cores: list[int] | None = None

    async def start(self) -> None:
        self._cores = self._spawner.cores.allot(self.model.logical_id, self.model.memory_mb)
        self._pid, self._reader, self._writer = await self._spawner.spawn(
            self.model, self._env, self._cores
        )
        ready = await asyncio.wait_for(self._reader.readline(), timeout=60)
        if not ready:
            self._dead = True
            raise RuntimeError(f"{self.model.logical_id}: the function process exited at start")

    @property
    def alive(self) -> bool:
        return self._reader is not None and not self._dead

    async def invoke(self, event: Any, request_id: str, timeout: float) -> Invocation:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        started = time.perf_counter()
        request = {"event": event, "requestId": request_id, "deadline": time.time() + timeout}
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), timeout)
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
        self._dead = True
        self._give_back_cores()
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
        if self._writer is not None:
            self._writer.close()

    async def stop(self) -> None:
        """Close its request stream: the process finishes what it is doing and exits."""
        self._dead = True
        self._give_back_cores()
        if self._writer is not None:
            self._writer.close()

    def _give_back_cores(self) -> None:
        # Once: a process may be killed after it was stopped, or killed twice.
        if self._cores is not None:
            self._spawner.cores.release(self.model.logical_id, self._cores)
            self._cores = None


class FunctionPool:
    """The warm processes of one function, at most `max_processes` at once.

    An invocation takes the first process to become free: an idle one, or one it starts
    when all are busy, whichever is ready first (a cold start is ~0.3 s, a warm
    invocation a few ms, so waiting for a busy process is often quicker).
    """

    def __init__(
        self, model: FunctionModel, env: dict[str, str], max_processes: int, spawner: Spawner
    ) -> None:
        self.model = model
        self._env = env
        self._spawner = spawner
        self._max = max_processes
        # Last in, first out: the most recently used process serves next, as a warm Lambda
        # container would, so sequential invocations keep one process (and its caches) warm.
        self._idle: asyncio.LifoQueue[FunctionProcess] = asyncio.LifoQueue()
        self._all: set[FunctionProcess] = set()
        self._starting = 0
        self._waiting = 0
        self._spawns: set[asyncio.Task[None]] = set()

    @property
    def size(self) -> int:
        return len(self._all) + self._starting

    async def warm(self, count: int = 1) -> None:
        """Start processes ahead of the first invocations (cold starts at start-up)."""
        wanted = min(count, self._max) - self.size
        if wanted > 0:
            self._starting += wanted
            await asyncio.gather(*(self._spawn() for _ in range(wanted)))

    async def _spawn(self) -> None:
        process = FunctionProcess(self.model, self._env, self._spawner)
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

    def _start_one(self) -> None:
        self._starting += 1
        task = asyncio.get_running_loop().create_task(self._spawn())
        self._spawns.add(task)
        task.add_done_callback(self._spawns.discard)

    def _retire(self, process: FunctionProcess) -> None:
        """Forget a dead process; start a replacement when invocations are waiting for one."""
        self._all.discard(process)
        if self._waiting > self._starting and self.size < self._max:
            self._start_one()

    async def invoke(self, event: Any, request_id: str, timeout: float) -> Invocation:
        if self._idle.empty() and self.size < self._max:
            self._start_one()
        # Waiting for a free process is not handler time: Lambda would have started another
        # container. Only the invocation itself is bounded by the timeout (and a process that
        # runs past it is killed and replaced, so a waiter is never stuck for longer than that).
        self._waiting += 1
        try:
            process = await self._idle.get()
        finally:
            self._waiting -= 1
        try:
            result = await process.invoke(event, request_id, timeout)
        except BaseException:
            process.kill()
            self._retire(process)
            raise
        if process.alive:
            self._idle.put_nowait(process)
        else:
            self._retire(process)
        return result

    async def stop(self) -> None:
        for task in list(self._spawns):
            task.cancel()
        processes = list(self._all)
        self._all.clear()
        with contextlib.suppress(Exception):
            await asyncio.gather(*(p.stop() for p in processes))
