"""`switchboard local` as a subprocess: on a free port, described by its banner, ended by Ctrl-C.

The gateway's stdout is read on a thread until the banner's last line; its stderr (the gateway's
log and every handler's output) goes to a file, so that a chatty handler can never fill a pipe
and stall the gateway, and so that a test can check it for tracebacks afterwards.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from switchboard.local.functions import socket_directory

REPO = Path(__file__).resolve().parents[2]
FIXTURE_APP = Path(__file__).resolve().parent / "fixture_app"
APP_TEMPLATE = REPO / "template.yaml"
FIXTURE_TEMPLATE = FIXTURE_APP / "template.yaml"
COMPOSED_TEMPLATE = FIXTURE_APP / "composed.yaml"

READY_LINE = "  Press Ctrl-C to stop."
_WEBSOCKET_LINE = re.compile(
    r"^  WebSocket +ws://127\.0\.0\.1:(\d+)  \(also ws://127\.0\.0\.1:\1/(\S+)\)$"
)
_DYNAMODB_LINE = re.compile(r"^  DynamoDB +(http://127\.0\.0\.1:\d+)\b")
_HTTP_API_LINE = re.compile(r"^  HTTP API +(http://127\.0\.0\.1:\d+(?:/\S+)?)  ")
_TRACEBACK = re.compile(r"^Traceback \(most recent call last\):$", re.MULTILINE)
STARTUP_SECONDS = 60.0
SHUTDOWN_SECONDS = 60.0


class GatewayFailedToStart(RuntimeError):
    """The gateway exited, or printed no complete banner in time."""


@dataclass
class LocalGateway:
    """A running `switchboard local`, described by its banner."""

    process: subprocess.Popen[str]
    port: int
    stage: str
    dynamodb_endpoint: str
    stderr_path: Path
    banner: list[str] = field(default_factory=list)
    #: The template's HTTP API (`HttpApi` events), when it has one.
    http_api_url: str | None = None
    #: The gateway's TMPDIR, removed once it has exited (a killed one leaves its sockets).
    scratch: Path | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def stage_url(self) -> str:
        return f"{self.ws_url}/{self.stage}"

    @property
    def http_url(self) -> str:
        """The `@connections` endpoint without a stage (boto3's `endpoint_url` form one)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def management_endpoint(self) -> str:
        """The `@connections` endpoint with the stage, as `https://{domain}/{stage}` in AWS."""
        return f"{self.http_url}/{self.stage}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float = SHUTDOWN_SECONDS) -> int:
        code = self.process.wait(timeout=timeout)
        self._remove_scratch()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def start_gateway(
    template: Path,
    stderr_path: Path,
    *flags: str,
    extra_env: Mapping[str, str] | None = None,
) -> LocalGateway:
    """Start `switchboard local --port 0 --http-port 0` and return once its banner says it is
    ready."""
    command = [
        sys.executable,
        "-m",
        "switchboard",
        "local",
        "--port",
        "0",
        "--http-port",
        "0",
        "--template",
        str(template),
        "--log-level",
        "WARNING",
        *flags,
    ]
    scratch = Path(socket_directory())
    env = {**os.environ, "TMPDIR": str(scratch), **(extra_env or {})}
    with stderr_path.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
        )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: Iterator[str]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, args=(process.stdout,), daemon=True).start()
    banner: list[str] = []
    deadline = time.monotonic() + STARTUP_SECONDS
    while not banner or banner[-1] != READY_LINE:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            shutil.rmtree(scratch, ignore_errors=True)
            raise GatewayFailedToStart(
                f"{' '.join(command)} printed no complete banner (exit code {process.returncode})\n"
                f"stdout: {banner}\nstderr: {stderr_path.read_text(encoding='utf-8')}"
            )
        banner.append(line)
    gateway = _described(process, banner, stderr_path)
    gateway.scratch = scratch
    return gateway


def _described(
    process: subprocess.Popen[str], banner: Sequence[str], stderr_path: Path
) -> LocalGateway:
    port = stage = dynamodb = http_api_url = None
    for line in banner:
        if match := _WEBSOCKET_LINE.match(line):
            port, stage = int(match.group(1)), match.group(2)
        elif match := _DYNAMODB_LINE.match(line):
            dynamodb = match.group(1)
        elif match := _HTTP_API_LINE.match(line):
            http_api_url = match.group(1)
    if port is None or stage is None or dynamodb is None:
        process.kill()
        raise GatewayFailedToStart(f"cannot read the port, stage and DynamoDB endpoint in {banner}")
    return LocalGateway(process, port, stage, dynamodb, stderr_path, list(banner), http_api_url)


#: The fixture app's handlers that fail on purpose.
FIXTURE_HANDLERS = "fixture_handlers.py"
#: Lambda's way to answer 401 from an authorizer is to raise `Unauthorized`, and the local
#: worker prints that traceback as Lambda logs it; every refused token leaves one.
AUTHORIZER_REFUSAL = "switchboard.handlers.authorizer.Unauthorized: Unauthorized"


def gateway_tracebacks(stderr: str, *, handler_file: str | None = FIXTURE_HANDLERS) -> list[str]:
    """Tracebacks in the gateway's stderr, except those that contain `handler_file`.

    Lambda logs a handler's traceback, and so does the local gateway; any other traceback
    (the gateway's own, or one of the real app's handlers) is a bug. With `handler_file`
    None, every traceback counts.
    """
    found = []
    starts = [match.start() for match in _TRACEBACK.finditer(stderr)]
    for start in starts:
        lines = stderr[start:].splitlines()
        # The block ends at its first unindented line after the header: the exception.
        end = next((i for i, line in enumerate(lines[1:], 1) if line and not line[0].isspace()), 0)
        block = "\n".join(lines[: end + 1])
        if handler_file is None or handler_file not in block:
            found.append(block)
    return found


def stop_cleanly(
    gateway: LocalGateway, *, expected_traceback: str | None = FIXTURE_HANDLERS
) -> None:
    """Ctrl-C, then assert the exit was clean: code 0 and no traceback but the expected ones."""
    if gateway.process.poll() is None:
        gateway.interrupt()
    try:
        code = gateway.wait()
    except subprocess.TimeoutExpired:
        gateway.kill()
        raise AssertionError(
            f"the gateway did not exit within {SHUTDOWN_SECONDS} s of Ctrl-C"
        ) from None
    stderr = gateway.stderr()
    assert code == 0, f"the gateway exited with {code}; stderr:\n{stderr[-4000:]}"
    tracebacks = gateway_tracebacks(stderr, handler_file=expected_traceback)
    assert not tracebacks, "tracebacks in the gateway's stderr:\n" + "\n\n".join(tracebacks)


@contextmanager
def running_gateway(
    template: Path,
    stderr_path: Path,
    *flags: str,
    extra_env: Mapping[str, str] | None = None,
    expected_traceback: str | None = FIXTURE_HANDLERS,
) -> Iterator[LocalGateway]:
    """A gateway for the duration of the block, stopped with Ctrl-C and checked at the end.

    `expected_traceback`: tracebacks containing it are expected (see `gateway_tracebacks`).
    """
    gateway = start_gateway(template, stderr_path, *flags, extra_env=extra_env)
    try:
        yield gateway
    except BaseException:
        gateway.kill()
        raise
    stop_cleanly(gateway, expected_traceback=expected_traceback)
