"""Does storing history slow the send path? sendmessage latency with and without it.

Two local gateways from the same template, one with `HistoryRetentionDays=7` (every room
message is stored) and one with `0` (history off), are driven the same way, taking turns:
a room of N clients, one sender, one message at a time. For each send it records the time
until the sender's `sent` reply (the send path) and until every other member has the
message (the fan-out). Prints one table, p50 and p99 side by side, and writes it to
artifacts/bench_history.md. Loopback only, bounded counts and time limits.

    .venv/bin/python scripts/bench_history.py [--clients 50] [--sends 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parents[1]
_PORT = re.compile(r"^\s*WebSocket\s+ws://127\.0\.0\.1:(\d+)")


async def start_gateway(retention_days: int) -> tuple[asyncio.subprocess.Process, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard",
        "local",
        "--port",
        "0",
        "--http-port",
        "0",
        "--log-level",
        "WARNING",
        "--parameter-overrides",
        f"HistoryRetentionDays={retention_days}",
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdout is not None
    port = 0
    for _ in range(200):
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        if not line:
            raise RuntimeError("the gateway exited before it was ready")
        if match := _PORT.match(line):
            port = int(match.group(1))
        if port and "Press Ctrl-C" in line:
            return process, port
    raise RuntimeError("no ready line from the gateway")


def kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class Room:
    def __init__(self, port: int, clients: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/prod"
        self.size = clients
        self.sockets: list[Any] = []

    async def open(self) -> None:
        for start in range(0, self.size, 25):
            batch = [
                websockets.connect(f"{self.url}?name=u{i}", max_queue=None, compression=None)
                for i in range(start, min(self.size, start + 25))
            ]
            self.sockets += await asyncio.gather(*batch)

    async def send_once(self, seq: int) -> tuple[float, float]:
        sender, others = self.sockets[0], self.sockets[1:]
        started = time.perf_counter()

        async def until_message(ws: Any) -> None:
            while json.loads(await ws.recv()).get("data") != seq:
                pass

        async def until_ack() -> float:
            while json.loads(await sender.recv()).get("type") != "sent":
                pass
            return time.perf_counter() - started

        await sender.send(json.dumps({"action": "sendmessage", "data": seq}))
        ack = asyncio.ensure_future(until_ack())
        await asyncio.wait_for(asyncio.gather(ack, *(until_message(ws) for ws in others)), 30)
        return ack.result() * 1000, (time.perf_counter() - started) * 1000


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run(clients: int, sends: int) -> str:
    gateways: dict[str, tuple[asyncio.subprocess.Process, int]] = {}
    try:
        for label, days in (("history on", 7), ("history off", 0)):
            print(f"starting the gateway with {label}", flush=True)
            gateways[label] = await start_gateway(days)
        rooms = {label: Room(port, clients) for label, (_, port) in gateways.items()}
        for label, room in rooms.items():
            print(f"connecting {clients} clients ({label})", flush=True)
            await room.open()
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in rooms}
        for seq in range(-3, sends):  # 3 untimed warm-up sends each
            for label, room in rooms.items():  # taking turns: machine noise hits both
                result = await room.send_once(seq)
                if seq >= 0:
                    samples[label].append(result)
            if seq > 0 and seq % 20 == 0:
                print(f"  {seq}/{sends} sends", flush=True)
        lines = [
            f"sendmessage, {clients} clients in one room, {sends} sends each",
            "",
            "| gateway | ack p50 (ms) | ack p99 (ms) | all delivered p50 (ms) "
            "| all delivered p99 (ms) |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, values in samples.items():
            acks, fans = [a for a, _ in values], [f for _, f in values]
            lines.append(
                f"| {label} | {pct(acks, 50):.1f} | {pct(acks, 99):.1f} "
                f"| {pct(fans, 50):.1f} | {pct(fans, 99):.1f} |"
            )
        on = statistics.median(a for a, _ in samples["history on"])
        off = statistics.median(a for a, _ in samples["history off"])
        lines += [
            "",
            f"History adds {on - off:+.1f} ms ({(on / off - 1) * 100:+.0f}%) to the median ack.",
        ]
        return "\n".join(lines)
    finally:
        for process, _ in gateways.values():
            kill(process)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--sends", type=int, default=60)
    args = parser.parse_args(argv)
    if not 2 <= args.clients <= 500 or not 1 <= args.sends <= 1000:
        parser.error("--clients takes 2-500 and --sends 1-1000")
    table = asyncio.run(asyncio.wait_for(run(args.clients, args.sends), 600))
    print("\n" + table)
    out = ROOT / "artifacts"
    out.mkdir(exist_ok=True)
    (out / "bench_history.md").write_text("# History on the send path\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
