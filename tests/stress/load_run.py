"""A bounded load run against the real chat: connections held, churn, and room broadcasts.

`stayers` connect first, each entering one room, and stay to the end; some of them send
numbered messages at a steady pace, each waiting for its `sent` acknowledgement. Meanwhile
`churn_slots` clients come and go: each connects, enters a random room, sends one message,
stays a moment and leaves (one in five drops its TCP connection instead of closing). The run
stops by itself after `seconds`, then lets every reply arrive.

What must hold afterwards: every acknowledged message reached every stayer of its room
(other than its sender) exactly once, and each sender's messages in the order sent.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.stress.chat_clients import ChatClient
from tests.stress.process_memory import TreeMemory, sample

#: Clients opened at once while connecting the stayers (each is in the lobby until it has
#: joined its room, and leaving the lobby tells everyone still there).
OPEN_BATCH = 20
DRAIN_SECONDS = 30.0


@dataclass(frozen=True)
class LoadProfile:
    name: str
    stayers: int
    churn_slots: int
    room_size: int
    seconds: float
    senders_per_room: int
    send_interval: float
    lifetime: tuple[float, float]
    #: Traffic before the measured `seconds`: the function pools and their fan-out threads
    #: grow to their bounds in it, which is warming up, not leaking.
    warmup: float
    #: Memory is compared over this many seconds at the start and at the end of `seconds`.
    memory_window: float
    memory_tolerance: float
    sample_every: float = 1.0

    @property
    def rooms(self) -> int:
        return max(1, self.stayers // self.room_size)

    def describe(self) -> str:
        return (
            f"{self.stayers} held + {self.churn_slots} churning, rooms of {self.room_size}, "
            f"{self.rooms * self.senders_per_room} senders every {self.send_interval:g} s, "
            f"{self.warmup:g} s warm-up + {self.seconds:g} s"
        )


@dataclass(frozen=True)
class SentMessage:
    message_id: str
    room: str
    sender: str
    seq: int
    ack_ms: float


@dataclass
class LoadResult:
    profile: LoadProfile
    stayers: list[ChatClient] = field(default_factory=list)
    churners: list[ChatClient] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    bad_replies: list[object] = field(default_factory=list)
    churn_connects: int = 0
    churn_drops: int = 0
    held: list[int] = field(default_factory=list)
    memory: list[TreeMemory] = field(default_factory=list)
    ramp_seconds: float = 0.0

    @property
    def live(self) -> list[ChatClient]:
        """Every client still connected (stayers and the churners of the moment)."""
        return [c for c in [*self.stayers, *self.churners] if c.open_now]

    def expected(self) -> dict[str, set[str]]:
        """Message ids each stayer must have received: its room's, not its own."""
        by_room: dict[str, list[SentMessage]] = {}
        for message in self.sent:
            by_room.setdefault(message.room, []).append(message)
        return {
            str(s.connection_id): {
                m.message_id for m in by_room.get(str(s.room), []) if m.sender != s.connection_id
            }
            for s in self.stayers
        }

    def accounting(self) -> Counter[str]:
        """delivered, lost, duplicated, out_of_order, misrouted (stayers), and churners'."""
        counts: Counter[str] = Counter()
        expected = self.expected()
        for stayer in self.stayers:
            wanted = expected[str(stayer.connection_id)]
            got = {d.message_id for d in stayer.received}
            counts["expected"] += len(wanted)
            counts["delivered"] += len(wanted & got)
            counts["lost"] += len(wanted - got)
            counts["misrouted"] += len(got - wanted)
            counts["duplicated"] += stayer.duplicates()
            counts["out_of_order"] += stayer.out_of_order()
        for churner in self.churners:
            counts["churner_deliveries"] += len(churner.received)
            counts["duplicated"] += churner.duplicates()
            counts["out_of_order"] += churner.out_of_order()
        return counts

    def ack_percentiles(self) -> tuple[float, float]:
        times = sorted(m.ack_ms for m in self.sent)
        if len(times) < 2:
            return (times[0], times[0]) if times else (0.0, 0.0)
        return statistics.median(times), times[int(len(times) * 0.99) - 1]


async def run_load(
    profile: LoadProfile, stage_url: str, gateway_pid: int, seed: int = 7
) -> LoadResult:
    result = LoadResult(profile)
    pace = random.Random(seed)  # a repeatable schedule
    rooms = [f"load-{n}" for n in range(profile.rooms)]

    started = time.monotonic()
    opening = asyncio.Semaphore(OPEN_BATCH)

    async def stayer(n: int) -> ChatClient:
        async with opening:
            chat = await ChatClient.open(stage_url, f"stay-{n}")
            await chat.enter(rooms[n % len(rooms)])
            return chat

    result.stayers = list(await asyncio.gather(*(stayer(n) for n in range(profile.stayers))))
    result.ramp_seconds = time.monotonic() - started

    traffic_started = time.monotonic()
    measured_from = traffic_started + profile.warmup
    deadline = measured_from + profile.seconds
    # Stayer n is in room n % rooms: the first few of each room send.
    senders = [
        s for n, s in enumerate(result.stayers) if n // len(rooms) < profile.senders_per_room
    ]

    async def send_steadily(chat: ChatClient) -> None:
        seq = 0
        # Spread the senders' first sends over one interval.
        await asyncio.sleep(pace.random() * profile.send_interval)
        while time.monotonic() < deadline:
            began = time.monotonic()
            await send_one(chat, seq)
            seq += 1
            await asyncio.sleep(max(0.0, profile.send_interval - (time.monotonic() - began)))

    async def send_one(chat: ChatClient, seq: int) -> None:
        began = time.monotonic()
        reply = await chat.send(seq)
        if reply.get("type") != "sent" or reply.get("failed"):
            result.bad_replies.append(reply)
            return
        result.sent.append(
            SentMessage(
                str(reply["id"]),
                str(chat.room),
                str(chat.connection_id),
                seq,
                (time.monotonic() - began) * 1000,
            )
        )

    async def churn(slot: int) -> None:
        cycle = 0
        while time.monotonic() < deadline:
            chat = await ChatClient.open(stage_url, f"churn-{slot}-{cycle}")
            result.churners.append(chat)
            result.churn_connects += 1
            await chat.enter(pace.choice(rooms))
            # Each connection is a new sender: its one message is number 0.
            await send_one(chat, 0)
            await asyncio.sleep(pace.uniform(*profile.lifetime))
            if time.monotonic() >= deadline:
                return  # stays connected: part of the live set checked afterwards
            if pace.random() < 0.2:
                result.churn_drops += 1
                await chat.drop()
            else:
                await chat.close()
            cycle += 1

    async def watch() -> None:
        while time.monotonic() < deadline:
            result.held.append(len(result.live))
            at = time.monotonic() - measured_from
            if at >= 0:
                result.memory.append(await asyncio.to_thread(sample, gateway_pid, at))
            await asyncio.sleep(profile.sample_every)

    await asyncio.gather(
        *(send_steadily(s) for s in senders),
        *(churn(slot) for slot in range(profile.churn_slots)),
        watch(),
    )
    await _drain(result)
    return result


async def _drain(result: LoadResult) -> None:
    """Wait until every stayer has every message it should (or the drain time is up)."""
    expected = result.expected()
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        if all(
            expected[str(s.connection_id)] <= {d.message_id for d in s.received}
            for s in result.stayers
        ):
            break
        await asyncio.sleep(0.2)
    # Anything still in flight (a duplicate would be) has a moment to show.
    await asyncio.sleep(0.5)
