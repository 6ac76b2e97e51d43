"""Benchmark: the local gateway against the in-memory reference broadcaster, side by side.

For each size, both servers are started fresh in subprocesses on loopback ports; each gets
its clients connected (bounded concurrency, timed), then the two take turns sending
`sendmessage` one at a time, each send timed until every other client has the message and
the sender has its ack. Taking turns (A B B A ...) puts a busy spell of the machine on both
servers instead of on whichever ran then. All clients live in this process, on one asyncio
loop; receive times are taken on the client side with `time.perf_counter`. Every delivery
is checked: each other client gets each message exactly once, the sender gets exactly one
ack and no copy of its own message.

    .venv/bin/python scripts/bench_gateway.py                 # 100 and 500 clients
    .venv/bin/python scripts/bench_gateway.py --quick         # 50 clients, a smoke run
    .venv/bin/python scripts/bench_gateway.py --sizes 200 --sends 30
    .venv/bin/python scripts/bench_gateway.py --runs 5          # and the ratios over 5 runs

Prints the table (where the time goes, and what boto3 alone costs per post) and writes
artifacts/bench_gateway.md and artifacts/bench_gateway.png. Issue 3's target: the gateway at
most 15x the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from matplotlib.figure import Figure
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from switchboard.local.functions import socket_directory
from switchboard.runtime import management_config

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
SERVERS = ("reference", "gateway")
TARGET_RATIO = 15.0

START_TIMEOUT = 60.0  # a server must be ready within this
CONNECT_TIMEOUT = 90.0  # all clients of one size must be connected within this
SEND_TIMEOUT = 30.0  # one broadcast must be complete within this
SETTLE_SECONDS = 0.3  # after the last send: late duplicates must arrive before the check

Progress = Callable[[str], None]


def quiet(_: str) -> None:
    """A progress callback that prints nothing (tests)."""


# ------------------------------------------------------------------------- servers


@dataclass
class Server:
    kind: str
    process: asyncio.subprocess.Process
    port: int
    stderr_path: Path
    #: The server's TMPDIR (the gateway's sockets go there), removed once it is killed.
    scratch: Path | None = None
    drainer: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/prod"

    def kill(self) -> None:
        """SIGKILL the server's whole process group (the gateway's workers and moto too).

        Killing rather than stopping is deliberate: a graceful stop runs `$disconnect` for
        every client, and each one fans out a "left" to the rest, O(n^2) work at 500.
        """
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.scratch is not None:
            # A killed gateway cannot remove its own temporary directory.
            shutil.rmtree(self.scratch, ignore_errors=True)


def server_command(kind: str, management_latency_ms: float, source: Path) -> list[str]:
    if kind == "reference":
        return [sys.executable, str(ROOT / "scripts" / "reference_broadcaster.py"), "--port", "0"]
    # Any free ports: the HTTP API's default (3000) may be taken by a running gateway.
    command = [sys.executable, "-m", "switchboard", "local", "--port", "0", "--http-port", "0"]
    command += ["--template", str(source / "template.yaml"), "--log-level", "WARNING"]
    if management_latency_ms:
        command += ["--management-latency-ms", str(management_latency_ms)]
    return command


_READY = {
    "reference": re.compile(r"^READY (\d+)"),
    "gateway": re.compile(r"^\s*WebSocket\s+ws://127\.0\.0\.1:(\d+)"),
}


async def start_server(
    kind: str, management_latency_ms: float = 0.0, source: Path = ROOT
) -> Server:
    """Start a server in its own process group; return once it is ready to serve.

    `source` is the checkout whose `src/` and `template.yaml` the gateway runs (another
    one, such as `git archive HEAD`, compares two versions of the gateway).
    """
    env = dict(os.environ)
    if source != ROOT:
        # Ahead of the editable install's path entry; the workers and moto inherit it.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(source / "src"), env.get("PYTHONPATH")])
        )
    # Short enough that the gateway's Unix sockets fit under it (else it falls back to /tmp,
    # outside what the kill below removes).
    scratch = Path(socket_directory())
    env["TMPDIR"] = str(scratch)
    stderr_path = Path(tempfile.mkstemp(prefix=f"bench-{kind}-", suffix=".log")[1])
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *server_command(kind, management_latency_ms, source),
            cwd=source,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
    server = Server(kind, process, 0, stderr_path, scratch)
    try:
        await asyncio.wait_for(_wait_ready(server), START_TIMEOUT)
    except BaseException:
        server.kill()
        raise
    return server


async def _wait_ready(server: Server) -> None:
    assert server.process.stdout is not None
    for _ in range(500):  # the gateway's banner is ~25 lines
        line = (await server.process.stdout.readline()).decode(errors="replace")
        if not line:
            log_tail = server.stderr_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{server.kind} exited before it was ready:\n{log_tail}")
        if match := _READY[server.kind].match(line):
            server.port = int(match.group(1))
        if server.port and (server.kind == "reference" or "Press Ctrl-C" in line):
            # Keep reading stdout so that the server never blocks on a full pipe.
            server.drainer = asyncio.ensure_future(_drain(server.process.stdout))
            return
    raise RuntimeError(f"{server.kind}: no ready line in its first 500 lines of output")


async def _drain(stream: asyncio.StreamReader) -> None:
    with contextlib.suppress(Exception):
        while await stream.read(65536):
            pass


# ------------------------------------------------------------- process CPU (Linux)


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    return parents


def _descendants(root: int, parents: dict[int, int]) -> list[int]:
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _command(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def _role(pid: int, root: int, parents: dict[int, int]) -> str:
    command = _command(pid)
    if command is None:
        return "gone"
    if pid == root:
        return "uvicorn (reference)" if "reference_broadcaster" in command else "gateway process"
    if "dynamodb_server" in command:
        return "moto DynamoDB server"
    if "switchboard.local.zygote" in command:
        # Function processes are forked from the zygote: they keep its command line.
        forked = "switchboard.local.zygote" in (_command(parents.get(pid, 0)) or "")
        return "function processes" if forked else "zygote"
    return "other"


def cpu_by_role(root: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of the server process and each kind of child."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}
    parents = _parents()
    for pid in _descendants(root, parents):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            role = _role(pid, root, parents)
            totals[role] = totals.get(role, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return totals


# ---------------------------------------------------------------------- clients


@dataclass
class ClientLog:
    """What one client received: message and ack counts per send, and anything else."""

    index: int
    messages: Counter[int] = field(default_factory=Counter)
    acks: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)


@dataclass
class Round:
    """One broadcast: who sent it, when, and when its deliveries arrived."""

    seq: int
    sender: int
    recipients: int
    sent_at: float = 0.0
    first_at: float = 0.0
    last_at: float = 0.0
    acked_at: float = 0.0
    received: int = 0
    message_ids: set[str] = field(default_factory=set)
    ack_id: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def check_done(self) -> None:
        if self.received >= self.recipients and self.acked_at:
            self.done.set()

    @property
    def latency_ms(self) -> float:
        return (max(self.last_at, self.acked_at) - self.sent_at) * 1000


class Tracker:
    """Routes every received frame to its client's log and to the round it belongs to."""

    def __init__(self) -> None:
        self.logs: list[ClientLog] = []
        self.rounds: dict[int, Round] = {}
        self.current: Round | None = None

    def on_frame(self, client: ClientLog, raw: str | bytes, at: float) -> None:
        try:
            frame = json.loads(raw)
            kind = frame["type"]
        except (ValueError, TypeError, KeyError):
            client.unexpected.append(str(raw)[:200])
            return
        if kind == "message":
            data = frame.get("data")
            seq = data.get("seq") if isinstance(data, dict) else None
            bench_round = self.rounds.get(seq) if isinstance(seq, int) else None
            if bench_round is None:
                client.unexpected.append(str(raw)[:200])
                return
            client.messages[bench_round.seq] += 1
            if client.index == bench_round.sender:
                return  # a copy of its own message: reported by the delivery check
            bench_round.received += 1
            bench_round.message_ids.add(str(frame.get("id")))
            bench_round.first_at = bench_round.first_at or at
            bench_round.last_at = max(bench_round.last_at, at)
            bench_round.check_done()
        elif kind == "sent" and self.current is not None and client.index == self.current.sender:
            client.acks[self.current.seq] += 1
            self.current.ack_id = str(frame.get("id"))
            self.current.acked_at = self.current.acked_at or at
            self.current.check_done()
        else:
            client.unexpected.append(str(raw)[:200])


async def _read(ws: ClientConnection, client: ClientLog, tracker: Tracker) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            tracker.on_frame(client, raw, time.perf_counter())


@dataclass
class Clients:
    sockets: list[ClientConnection] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    tracker: Tracker = field(default_factory=Tracker)

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        for ws in self.sockets:
            # The server is already gone (killed): drop the TCP connection, no handshake.
            with contextlib.suppress(Exception):
                ws.transport.abort()
        if self.readers:
            await asyncio.wait(self.readers, timeout=5)


def _open(url: str, name: str) -> Any:
    # No compression: the gateway does not negotiate it and the reference would, which
    # would measure zlib instead of the servers. No pings: runs are short.
    return connect(
        f"{url}?name={name}",
        compression=None,
        ping_interval=None,
        proxy=None,
        open_timeout=30,
        close_timeout=2,
        max_queue=None,
    )


async def warm_up_connect(url: str) -> None:
    """One connect and close, so that no first-use cost lands in the timed connects."""
    async with _open(url, "probe"):
        pass
    await asyncio.sleep(0.5)  # let the server finish the probe's disconnect


async def connect_clients(
    url: str, size: int, concurrency: int, clients: Clients, progress: Progress
) -> float:
    """Connect `size` clients, at most `concurrency` handshakes at a time; clients/s."""
    gate = asyncio.Semaphore(concurrency)
    tracker = clients.tracker
    tracker.logs = [ClientLog(i) for i in range(size)]
    sockets: list[ClientConnection | None] = [None] * size
    done = 0

    async def one(index: int) -> None:
        nonlocal done
        async with gate:
            sockets[index] = await _open(url, f"c{index}")
        done += 1
        if done % max(1, size // 5) == 0 or done == size:
            progress(f"  connected {done}/{size}")

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(one(i)) for i in range(size)]
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), CONNECT_TIMEOUT)
    finally:
        for task in tasks:
            task.cancel()
        clients.sockets = [ws for ws in sockets if ws is not None]
    elapsed = time.perf_counter() - started
    for ws, client in zip(clients.sockets, tracker.logs, strict=True):
        clients.readers.append(asyncio.ensure_future(_read(ws, client, tracker)))
    return size / elapsed


async def broadcast(clients: Clients, seq: int) -> Round:
    """Send one message and wait until every other client and the sender's ack have it."""
    tracker = clients.tracker
    size = len(clients.sockets)
    sender = (seq * 7) % size  # rotate senders across the room
    bench_round = Round(seq, sender, recipients=size - 1)
    tracker.rounds[seq] = bench_round
    tracker.current = bench_round
    body = json.dumps({"action": "sendmessage", "data": {"seq": seq, "pad": "x" * 64}})
    bench_round.sent_at = time.perf_counter()
    await clients.sockets[sender].send(body)
    try:
        await asyncio.wait_for(bench_round.done.wait(), SEND_TIMEOUT)
    except TimeoutError:
        raise RuntimeError(
            f"send {seq}: after {SEND_TIMEOUT:.0f} s, {bench_round.received}/{size - 1} clients "
            f"had it and the ack {'had' if bench_round.acked_at else 'had not'} arrived"
        ) from None
    finally:
        tracker.current = None
    return bench_round


def delivery_problems(logs: Sequence[ClientLog], rounds: Sequence[Round]) -> list[str]:
    """Every way the sends were not delivered exactly once; empty when all were."""
    problems: list[str] = []
    for bench_round in rounds:
        for client in logs:
            expected = 0 if client.index == bench_round.sender else 1
            got = client.messages[bench_round.seq]
            if got != expected:
                problems.append(
                    f"send {bench_round.seq}: client {client.index} got the message {got} "
                    f"times, expected {expected}"
                )
        acks = logs[bench_round.sender].acks[bench_round.seq]
        if acks != 1:
            problems.append(f"send {bench_round.seq}: the sender got {acks} acks, expected 1")
        ids = bench_round.message_ids | ({bench_round.ack_id} if bench_round.ack_id else set())
        if len(ids) > 1:
            problems.append(f"send {bench_round.seq}: several message ids {sorted(ids)}")
    for client in logs:
        problems += [f"client {client.index}: unexpected frame {raw}" for raw in client.unexpected]
    return problems


# ---------------------------------------------------------------------- one run


@dataclass
class Result:
    kind: str
    size: int
    connect_rate: float
    latencies_ms: list[float]
    first_delivery_ms: list[float]
    client_cpu_ms: float  # per broadcast, this process (parsing every delivery)
    server_cpu_ms: dict[str, float]  # per broadcast, by process role
    handler_ms: list[float]  # the gateway's sendmessage invocations, as the worker logs them
    problems: list[str]

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (with 10-20 samples, p99 is the slowest send)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


@dataclass
class Session:
    """One server and its clients, measured side by side with the other."""

    kind: str
    server: Server
    clients: Clients = field(default_factory=Clients)
    connect_rate: float = 0.0
    warmup: list[Round] = field(default_factory=list)
    timed: list[Round] = field(default_factory=list)
    client_cpu: float = 0.0  # seconds of this process's CPU during the timed sends
    cpu_before: dict[str, float] = field(default_factory=dict)

    async def timed_send(self, seq: int) -> Round:
        started = time.process_time()
        bench_round = await broadcast(self.clients, seq)
        self.client_cpu += time.process_time() - started
        self.timed.append(bench_round)
        return bench_round

    def result(self, size: int, cpu_after: dict[str, float]) -> Result:
        sends = len(self.timed)
        return Result(
            kind=self.kind,
            size=size,
            connect_rate=self.connect_rate,
            latencies_ms=[r.latency_ms for r in self.timed],
            first_delivery_ms=[(r.first_at - r.sent_at) * 1000 for r in self.timed],
            client_cpu_ms=self.client_cpu * 1000 / sends,
            server_cpu_ms={
                role: (cpu_after[role] - self.cpu_before.get(role, 0.0)) * 1000 / sends
                for role in cpu_after
            },
            handler_ms=_handler_durations(self.server.stderr_path)[-sends:],
            problems=delivery_problems(self.clients.tracker.logs, self.warmup + self.timed),
        )

    async def stop(self) -> None:
        self.server.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.process.wait(), 10)
        await self.clients.close()


async def measure(
    size: int,
    sends: int,
    *,
    concurrency: int = 50,
    warmup: int = 2,
    management_latency_ms: float = 0.0,
    source: Path = ROOT,
    progress: Progress = quiet,
) -> dict[str, Result]:
    """Both servers at one size: connect rates, then `sends` broadcasts each, interleaved.

    The servers run at the same time and take turns, one send each (A B B A ...), so that
    a busy spell of the machine lands on both rather than on whichever ran then.
    """
    if size < 2:
        raise ValueError("a broadcast needs at least 2 clients")
    sessions: list[Session] = []
    failed = True
    try:
        for kind in SERVERS:
            progress(f"[{kind} {size}] starting the server")
            session = Session(kind, await start_server(kind, management_latency_ms, source))
            sessions.append(session)
            await warm_up_connect(session.server.url)
            progress(f"[{kind} {size}] connecting {size} clients, {concurrency} at a time")
            session.connect_rate = await connect_clients(
                session.server.url, size, concurrency, session.clients, progress
            )
            progress(f"[{kind} {size}] {session.connect_rate:.0f} clients/s")
        progress(f"[both {size}] {warmup} warm-up sends each, then {sends} timed sends each")
        for session in sessions:
            session.warmup = [await broadcast(session.clients, -1 - i) for i in range(warmup)]
            session.cpu_before = cpu_by_role(session.server.process.pid)
        for seq in range(sends):
            for session in sessions if seq % 2 == 0 else sessions[::-1]:
                await session.timed_send(seq)
            if (seq + 1) % max(1, sends // 4) == 0 or seq + 1 == sends:
                latest = ", ".join(f"{s.kind} {s.timed[-1].latency_ms:.1f} ms" for s in sessions)
                progress(f"  send {seq + 1}/{sends}: {latest}")
        cpu_after = {s.kind: cpu_by_role(s.server.process.pid) for s in sessions}
        await asyncio.sleep(SETTLE_SECONDS)
        results = {s.kind: s.result(size, cpu_after[s.kind]) for s in sessions}
        for result in results.values():
            if result.problems:
                progress(
                    f"[{result.kind} {size}] {len(result.problems)} delivery problems, "
                    f"first: {result.problems[0]}"
                )
        failed = False
        return results
    finally:
        for session in sessions:
            await session.stop()
            if failed:
                progress(f"run failed; the {session.kind}'s log: {session.server.stderr_path}")
            else:
                session.server.stderr_path.unlink(missing_ok=True)


def _handler_durations(log_path: Path) -> list[float]:
    """`durationMs` of each sendmessage invocation in the worker's JSON log lines."""
    durations = []
    with contextlib.suppress(OSError):
        for line in log_path.read_text(errors="replace").splitlines():
            if '"sendmessage"' in line and '"durationMs"' in line:
                with contextlib.suppress(ValueError, KeyError):
                    durations.append(float(json.loads(line)["durationMs"]))
    return durations


# ---------------------------------------------------------------------- report


@dataclass(frozen=True)
class Row:
    metric: str
    reference: float
    gateway: float
    slower_is_higher: bool  # True for latencies; False for rates

    @property
    def ratio(self) -> float:
        """How many times the gateway is slower than the reference."""
        if self.slower_is_higher:
            return self.gateway / self.reference
        return self.reference / self.gateway

    @property
    def verdict(self) -> str:
        return "PASS" if self.ratio <= TARGET_RATIO else "MISS"


def table_rows(results: dict[tuple[str, int], Result], sizes: Sequence[int]) -> list[Row]:
    rows = []
    for size in sizes:
        ref, gw = results["reference", size], results["gateway", size]
        rows += [
            Row(f"connect rate @{size} (clients/s)", ref.connect_rate, gw.connect_rate, False),
            Row(f"fan-out p50 @{size} (ms)", ref.p50, gw.p50, True),
            Row(f"fan-out p99 @{size} (ms)", ref.p99, gw.p99, True),
        ]
    return rows


HEADERS = ("metric", "reference", "gateway", "ratio", "target", "result")
RATIO_NOTE = (
    "ratio: how many times slower the gateway is (gateway/reference for latencies, "
    "reference/gateway for the connect rate); target <= 15x at every size."
)


def _cells(row: Row) -> tuple[str, ...]:
    return (
        row.metric,
        f"{row.reference:.1f}",
        f"{row.gateway:.1f}",
        f"{row.ratio:.1f}x",
        f"<= {TARGET_RATIO:.0f}x",
        row.verdict,
    )


def _aligned(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    cells = [headers, *rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table, the numeric columns (all but the first) right-aligned."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join(["---", *["---:"] * (len(headers) - 1)]) + "|",
    ]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def text_table(rows: Sequence[Row]) -> str:
    return "\n".join([*_aligned(HEADERS, [_cells(row) for row in rows]), RATIO_NOTE])


def markdown_table(rows: Sequence[Row]) -> str:
    return "\n".join([*_markdown(HEADERS, [_cells(row) for row in rows]), "", RATIO_NOTE])


SUMMARY_HEADERS = ("metric", "min", "median", "max", f"runs within {TARGET_RATIO:g}x")


def runs_summary(runs: Sequence[Sequence[Row]]) -> list[tuple[str, ...]]:
    """Per metric, the ratio over several runs (each a full run, servers started afresh):
    the least, the median, the most, and how many runs met the target."""
    summary: list[tuple[str, ...]] = []
    for i, first in enumerate(runs[0]):
        ratios = [rows[i].ratio for rows in runs]
        within = sum(ratio <= TARGET_RATIO for ratio in ratios)
        summary.append(
            (
                first.metric,
                f"{min(ratios):.1f}x",
                f"{statistics.median(ratios):.1f}x",
                f"{max(ratios):.1f}x",
                f"{within} of {len(ratios)}",
            )
        )
    return summary


def summary_text(runs: Sequence[Sequence[Row]]) -> str:
    lines = _aligned(SUMMARY_HEADERS, runs_summary(runs))
    return f"The ratio over {len(runs)} runs:\n" + "\n".join(lines)


def summary_markdown(runs: Sequence[Sequence[Row]]) -> str:
    lines = _markdown(SUMMARY_HEADERS, runs_summary(runs))
    return f"The ratio over {len(runs)} runs:\n\n" + "\n".join(lines)


def time_breakdown(
    results: dict[tuple[str, int], Result], sizes: Sequence[int], price: PostPrice | None = None
) -> str:
    """Per broadcast: client-side timings and each process's CPU, from /proc; and, given
    the CPU of one boto3 post, what the posts alone cost against the reference."""
    lines = ["Where the time goes, per broadcast (medians; CPU is mean ms per broadcast):"]
    for size in sizes:
        for kind in SERVERS:
            result = results[kind, size]
            first = statistics.median(result.first_delivery_ms)
            parts = [
                f"wall {result.p50:.1f}",
                f"first delivery after {first:.1f}",
                f"client CPU {result.client_cpu_ms:.1f}",
            ]
            parts += [
                f"{role} CPU {ms:.1f}"
                for role, ms in sorted(result.server_cpu_ms.items(), key=lambda kv: -kv[1])
                if ms >= 0.05
            ]
            if result.handler_ms:
                parts.append(f"handler (worker log) {statistics.median(result.handler_ms):.1f}")
            lines.append(f"  {kind:>9} @{size}: " + "; ".join(parts) + " (ms)")
    lines.append(
        "  (2 cores are shared by the clients and the server processes: CPU can exceed wall.)"
    )
    if price is not None:
        lines.append(
            "boto3 alone, CPU per post_to_connection answered at once (no network): "
            f"{price.unsigned:.3f} ms unsigned, as the local functions send it; "
            f"{price.signed:.3f} ms SigV4-signed, as in Lambda. The posts of one broadcast:"
        )
        for size in sizes:
            posts = size - 1
            reference = results["reference", size].p50
            unsigned, signed = posts * price.unsigned, posts * price.signed
            lines.append(
                f"  @{size}: {posts} posts = {unsigned:.1f} ms unsigned "
                f"({unsigned / reference:.1f}x the reference's p50), "
                f"{signed:.1f} ms signed ({signed / reference:.1f}x)"
            )
    return "\n".join(lines)


def plot(results: dict[tuple[str, int], Result], sizes: Sequence[int], path: Path) -> None:
    colours = {"reference": "#4c72b0", "gateway": "#dd8452"}
    # The object API, not pyplot: no GUI backend and no global figure state.
    figure = Figure(figsize=(12, 5))
    latency_axes, rate_axes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    groups = [(size, stat) for size in sizes for stat in ("p50", "p99")]
    width = 0.38
    for offset, kind in zip((-width / 2, width / 2), SERVERS, strict=True):
        values = [getattr(results[kind, size], stat) for size, stat in groups]
        bars = latency_axes.bar(
            [i + offset for i in range(len(groups))],
            values,
            width,
            label=kind,
            color=colours[kind],
        )
        latency_axes.bar_label(bars, fmt="%.1f", fontsize=8)
    latency_axes.set_xticks(
        range(len(groups)), [f"{stat}\n{size} clients" for size, stat in groups]
    )
    latency_axes.set_yscale("log")
    latency_axes.set_ylabel("ms until every client has the message (log)")
    latency_axes.set_title("Fan-out latency, one send at a time")
    latency_axes.legend()
    for offset, kind in zip((-width / 2, width / 2), SERVERS, strict=True):
        values = [results[kind, size].connect_rate for size in sizes]
        bars = rate_axes.bar(
            [i + offset for i in range(len(sizes))],
            values,
            width,
            label=kind,
            color=colours[kind],
        )
        rate_axes.bar_label(bars, fmt="%.0f", fontsize=8)
    rate_axes.set_xticks(range(len(sizes)), [f"{size} clients" for size in sizes])
    rate_axes.set_yscale("log")
    rate_axes.set_ylabel("clients connected per second (log)")
    rate_axes.set_title("Connect rate")
    rate_axes.legend()
    figure.suptitle(f"Local gateway vs in-memory FastAPI reference (target <= {TARGET_RATIO:.0f}x)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)


# ------------------------------------------------------------------- boto3's own cost


class _NoBody:
    def stream(self, **_: Any) -> Any:
        yield b""


@dataclass(frozen=True)
class PostPrice:
    """CPU ms of one `post_to_connection` through boto3 alone, with no network."""

    unsigned: float  # as the local functions send it (the gateway checks no signature)
    signed: float  # SigV4-signed, as in Lambda


def boto3_post_cpu_ms(*, signed: bool, calls: int = 1000) -> float:
    """CPU per `post_to_connection` of the functions' own client, with no network at all.

    The client is configured as the functions configure theirs
    (`switchboard.runtime.management_config`) and a `before-send` hook answers 200 at once,
    so what is measured is boto3's own work: validation, serialisation, endpoint rules, event
    hooks and parsing, plus SigV4 when `signed` (as in Lambda; the local functions' calls
    are unsigned). That is the floor under each post a broadcast makes.
    """
    session = boto3.session.Session(
        aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
    )
    if not signed:
        session.events.register(
            "choose-signer.apigatewaymanagementapi", lambda **_: botocore.UNSIGNED
        )
    client = session.client(
        "apigatewaymanagementapi",
        endpoint_url="http://127.0.0.1:9/prod",  # never reached: the hook answers first
        config=management_config(1),
    )

    def answer(request: Any, **_: Any) -> AWSResponse:
        headers = HTTPHeaders()
        headers["x-amzn-RequestId"] = "bench"
        return AWSResponse(request.url, 200, headers, _NoBody())

    # The stubs type handlers as returning None; before-send's return value is the answer.
    client.meta.events.register("before-send.apigatewaymanagementapi", answer)  # type: ignore[arg-type]
    payload = json.dumps(
        {"type": "message", "room": "lobby", "from": {"name": "c0"}, "data": "0", "id": "x" * 26}
    ).encode()
    for _ in range(50):  # first calls load models and fill caches
        client.post_to_connection(ConnectionId="bench-connection-id=", Data=payload)
    batches = []
    for _ in range(3):  # the least of three: a floor, not this second's contention
        started = time.process_time()
        for _ in range(calls):
            client.post_to_connection(ConnectionId="bench-connection-id=", Data=payload)
        batches.append((time.process_time() - started) * 1000 / calls)
    return min(batches)


def price_a_post() -> PostPrice:
    return PostPrice(
        unsigned=boto3_post_cpu_ms(signed=False), signed=boto3_post_cpu_ms(signed=True)
    )


# ---------------------------------------------------------------------- main


def raise_open_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        if wanted < needed:
            print(f"warning: open files limited to {wanted}; {needed} wanted", file=sys.stderr)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500", help="client counts (default 100,500)")
    parser.add_argument(
        "--sends", type=int, default=0, help="timed sends per size (default 30 up to 100, else 20)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 clients, 5 sends")
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes at a time")
    parser.add_argument(
        "--warmup",
        type=int,
        default=6,
        help="untimed sends before timing (a warm container: the fan-out has learned its pace)",
    )
    parser.add_argument(
        "--management-latency-ms", type=float, default=0.0, help="simulated @connections latency"
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="repeat the whole run (fresh servers each time) and summarise the ratios",
    )
    parser.add_argument("--out", type=Path, default=ARTIFACTS, help="where the .md and .png go")
    parser.add_argument(
        "--source",
        type=Path,
        default=ROOT,
        help="checkout whose src/ and template.yaml the gateway runs (default: this one)",
    )
    args = parser.parse_args(argv)
    args.sizes = [50] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.quick and not args.sends:
        args.sends = 5
    if any(size < 2 or size > 5000 for size in args.sizes):
        parser.error("each size must be between 2 and 5000")
    if not 0 <= args.sends <= 1000:
        parser.error("--sends must be between 1 and 1000")
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    return args


def sends_for(size: int, requested: int) -> int:
    # Enough sends that the p50 is steady from run to run: each takes a fraction of a second.
    return requested or (30 if size <= 100 else 20)


async def run(args: argparse.Namespace) -> dict[tuple[str, int], Result]:
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"{time.perf_counter() - started:6.1f}s {message}", file=sys.stderr, flush=True)

    results: dict[tuple[str, int], Result] = {}
    for size in args.sizes:
        pair = await measure(
            size,
            sends_for(size, args.sends),
            concurrency=args.concurrency,
            warmup=args.warmup,
            management_latency_ms=args.management_latency_ms,
            source=args.source.resolve(),
            progress=progress,
        )
        results.update({(kind, size): result for kind, result in pair.items()})
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_file_limit(2 * max(args.sizes) + 1024)
    load_before = os.getloadavg()[0]
    # Before the servers start, on a quiet machine: the floor, not a contended figure.
    price = price_a_post()
    runs: list[list[Row]] = []
    problems: list[str] = []
    for number in range(1, args.runs + 1):
        if args.runs > 1:
            print(f"run {number} of {args.runs}", file=sys.stderr, flush=True)
        results = asyncio.run(run(args))
        runs.append(table_rows(results, args.sizes))
        problems += [p for result in results.values() for p in result.problems]
        if args.runs > 1:
            print(text_table(runs[-1]), file=sys.stderr, flush=True)
    load = f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    # The table, the breakdown and the plot are the last run's; the summary is all of them.
    rows = runs[-1]
    table = text_table(rows)
    breakdown = time_breakdown(results, args.sizes, price)
    print()
    print(table)
    print()
    print(breakdown)
    print(f"\nGateway from {args.source.resolve()}; {load} on {os.cpu_count()} CPUs.")
    if load_before > 0.5 * (os.cpu_count() or 1):
        print("warning: the machine was busy before the run: timings are noisy")
    summary = ""
    if args.runs > 1:
        print()
        print(summary_text(runs))
        summary = f"{summary_markdown(runs)}\n\nThe last run:\n\n"
    if problems:
        print(f"\nDELIVERY PROBLEMS ({len(problems)}):", *problems[:20], sep="\n  ")
    sends = ", ".join(f"{sends_for(s, args.sends)} at {s}" for s in args.sizes)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_gateway.md").write_text(
        "# Local gateway vs in-memory reference\n\n"
        f"Sends timed: {sends} (after {args.warmup} warm-up sends); "
        f"connects {args.concurrency} at a time; {os.cpu_count()} CPUs, {load}; "
        f"management latency {args.management_latency_ms:g} ms; "
        f"gateway from {args.source.resolve()}.\n\n"
        f"{summary}{markdown_table(rows)}\n\n```\n{breakdown}\n```\n"
    )
    plot(results, args.sizes, args.out / "bench_gateway.png")
    print(f"\nWrote {args.out / 'bench_gateway.md'} and {args.out / 'bench_gateway.png'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
