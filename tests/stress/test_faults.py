"""Injected faults against the real chat (template.yaml) in the local gateway.

Each scenario starts a gateway with its faults (`--inject-fault`, see
`switchboard/local/faults.py`), drives it with real clients, checks that nothing was lost
and that the table holds exactly what it should, and records one row of the stress report.
The deployed code is unchanged: it only ever sees the answers AWS would give.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from switchboard.broadcast import CONNECTING_GRACE_MS
from tests.integration.async_test import async_test
from tests.integration.aws_clients import dynamodb_client
from tests.integration.chat_app import TABLE, invocations
from tests.integration.local_gateway import (
    APP_TEMPLATE,
    LocalGateway,
    running_gateway,
)
from tests.integration.ws_clients import RawWebSocket
from tests.plugins.stress_report import Record
from tests.stress.chat_clients import ChatClient
from tests.stress.scenario import (
    connection_records,
    departure_notes,
    expected_records,
    fault_flags,
    injected,
    injected_details,
    meta_items,
    scenario,
    wait_for_records,
)
from tests.support.dynamodb import items

#: API Gateway's maximum connection duration plus the five minutes store.py adds.
CONNECTION_TTL_SECONDS = 7200 + 300


@contextmanager
def chat_gateway(
    tmp_path: Path, *flags: str, expected_traceback: str | None = None
) -> Iterator[LocalGateway]:
    """The real app with these flags; stopped with Ctrl-C, checked for stray tracebacks."""
    with running_gateway(
        APP_TEMPLATE,
        tmp_path / "gateway.stderr",
        "--integration-timeout",
        "29",
        *flags,
        expected_traceback=expected_traceback,
    ) as gateway:
        yield gateway


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def open_all(
    gateway: LocalGateway, labels: list[str], user_id: str | None = None
) -> list[ChatClient]:
    opening = (ChatClient.open(gateway.stage_url, label, user_id=user_id) for label in labels)
    return list(await asyncio.gather(*opening))


async def close_all(clients: list[ChatClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def arrived(clients: list[ChatClient], total: int, timeout: float = 10) -> None:
    """Until the clients hold `total` messages between them (what the acknowledgements
    counted as delivered), then a moment more, in which a duplicate would show."""
    deadline = time.monotonic() + timeout
    while sum(len(c.received) for c in clients) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)


async def past_the_handshake_grace(opened: float) -> None:
    """Wait until connections opened at `opened` (monotonic) are older than the grace in
    which the broadcaster keeps a gone recipient's records (it may still be connecting)."""
    await asyncio.sleep(max(0.0, opened + CONNECTING_GRACE_MS / 1000 + 0.5 - time.monotonic()))


async def solo_ids(clients: list[ChatClient]) -> None:
    """Learn each client's connection id from a join of a room of its own (no posts)."""

    async def learn(chat: ChatClient) -> None:
        reply = await chat.request({"action": "join", "room": unique("solo")})
        assert reply.get("type") == "joined", reply
        chat.connection_id = str(reply["connectionId"])

    await asyncio.gather(*(learn(c) for c in clients))


# ---------------------------------------------------------------- DynamoDB


DYNAMODB_FAULTS = (
    "dynamodb.throttle=0.05",
    "dynamodb.error=0.025",
    "dynamodb.lost_reply=0.025",
    "seed=11",
)


@pytest.mark.timeout(150)
@async_test(timeout=120)
async def test_dynamodb_throttling_and_5xx_lose_nothing(
    tmp_path: Path, stress_report: Record
) -> None:
    rooms, per_room, sends = 2, 6, 3
    with (
        scenario(
            stress_report,
            "DynamoDB throttling and 5xx during connects, joins and sends",
            ", ".join(DYNAMODB_FAULTS[:3]) + f"; {rooms * per_room} clients, {sends} sends each",
        ) as row,
        chat_gateway(tmp_path, *fault_flags(*DYNAMODB_FAULTS), "--max-processes", "16") as gateway,
    ):
        labels = [f"db-{r}-{n}" for r in range(rooms) for n in range(per_room)]
        clients = await open_all(gateway, labels)
        row.add(f"{len(clients)} of {len(labels)} connected")
        room_of = {c.label: f"dbroom-{c.label.split('-')[1]}" for c in clients}
        await asyncio.gather(*(c.enter(room_of[c.label]) for c in clients))

        async def talk(chat: ChatClient) -> list[dict[str, Any]]:
            return [await chat.send(seq) for seq in range(sends)]

        replies = await asyncio.gather(*(talk(c) for c in clients))
        acks = {c.label: acked for c, acked in zip(clients, replies, strict=True)}
        every = [ack for acked in replies for ack in acked]
        unsent = [a for a in every if a.get("type") != "sent"]
        assert not unsent, f"sends not acknowledged: {unsent}"
        failed = sum(int(a["failed"]) for a in every)
        await arrived(clients, sum(int(a["delivered"]) for a in every))
        lost = duplicates = disorder = delivered = 0
        for chat in clients:
            wanted = {
                str(a["id"])
                for other in clients
                if other is not chat and room_of[other.label] == room_of[chat.label]
                for a in acks[other.label]
            }
            got = [d.message_id for d in chat.received]
            delivered += len(set(got) & wanted)
            lost += len(wanted - set(got))
            duplicates += chat.duplicates()
            disorder += chat.out_of_order()
            assert set(got) <= wanted, f"{chat.label} received messages of another room"
        counts = injected(gateway)
        row.add(f"sent {len(every)}, delivered {delivered}, lost {lost}, duplicated {duplicates}")
        row.add(
            "injected "
            + ", ".join(f"{counts[k]} {k.split('.')[1]}" for k in sorted(counts))
            + " (all retried)"
        )
        assert (lost, failed, duplicates, disorder) == (0, 0, 0, 0)
        assert delivered == len(clients) * (per_room - 1) * sends
        for kind in ("dynamodb.throttle", "dynamodb.error", "dynamodb.lost_reply"):
            assert counts[kind] > 0, f"no {kind} was injected: {counts}"

        live = {
            c.connection_id: expected_records(c.connection_id, {room_of[c.label]})
            for c in clients
            if c.connection_id is not None
        }
        found = await wait_for_records(gateway, live)
        assert found == live, "the table does not hold exactly the live connections"
        # History: each message stored once, lost replies to its PutItem notwithstanding.
        table = await asyncio.to_thread(items, dynamodb_client(gateway.dynamodb_endpoint), TABLE)
        stored = sorted(i["id"]["S"] for i in table if i["PK"]["S"].startswith("MSG#dbroom-"))
        assert stored == sorted(str(a["id"]) for a in every), "history lost or doubled a message"
        await close_all(clients)
        assert await wait_for_records(gateway, {}) == {}, "records left after every disconnect"
        outcomes = invocations(gateway)
        errors = {key: n for key, n in outcomes.items() if key[1] != "ok"}
        row.add(f"table exact, then empty; {sum(outcomes.values())} invocations, 0 errors")
        assert not errors, f"invocations that failed: {errors}"


# ---------------------------------------------------------------- @connections


@pytest.mark.timeout(90)
@async_test(timeout=60)
async def test_gone_recipients_mid_broadcast_are_pruned_and_the_rest_delivered(
    tmp_path: Path, stress_report: Record
) -> None:
    members = 40
    with (
        scenario(
            stress_report,
            "@connections 410 for a share of recipients mid-broadcast",
            f"connections.gone=0.25 (the client vanishes, no $disconnect); {members} members",
        ) as row,
        chat_gateway(tmp_path, *fault_flags("connections.gone=0.25", "seed=3")) as gateway,
    ):
        # The members are one user's connections: leaving is announced with the last only,
        # so closing them afterwards costs no broadcast each.
        sender = await ChatClient.open(gateway.stage_url, "gone-sender")
        members_user = unique("member")
        others = await open_all(gateway, [f"gone-{n}" for n in range(members)], members_user)
        opened = time.monotonic()
        await solo_ids([sender, *others])
        dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
        before = await asyncio.to_thread(connection_records, dynamodb)
        assert not injected(gateway), "nothing was posted before the broadcast"
        await past_the_handshake_grace(opened)

        ack = await sender.send(1, room="lobby")
        await arrived(others, int(ack.get("delivered", 0)))
        gone = {
            detail.removeprefix("410 for ")
            for detail in injected_details(gateway, "connections.gone")
        }
        reached = {c.connection_id for c in others if c.received}
        missed = {c.connection_id for c in others if not c.received}
        row.add(
            f"delivered {ack['delivered']}, pruned {ack['pruned']}, failed {ack['failed']}; "
            f"injected 410 for {len(gone)}"
        )
        assert (ack["type"], ack["failed"]) == ("sent", 0), ack
        assert 0 < len(gone) < members, "the share picks some members, not none or all"
        assert missed == gone, "exactly the gone members missed the message"
        assert ack["pruned"] == len(gone) and ack["delivered"] == len(reached) == members - len(
            gone
        )

        # The gone clients were dropped without $disconnect; the prune alone removed them.
        await asyncio.gather(*(c._stopped() for c in others if c.connection_id in gone))
        assert all(not c.open_now for c in others if c.connection_id in gone)
        assert invocations(gateway)[("$disconnect", "ok")] == 0
        after = await asyncio.to_thread(connection_records, dynamodb)
        assert set(after) == set(before) - gone, "the gone members' records were pruned"
        assert all(after[cid] == before[cid] for cid in after), "the others' records are intact"
        # Each left a note for a $disconnect that (here) never comes; it expires with them.
        notes = await asyncio.to_thread(departure_notes, dynamodb)
        assert set(notes) == gone
        assert all("expiresAt" in note for note in notes.values())

        again = await sender.send(2, room="lobby")
        row.add(f"next broadcast: delivered {again['delivered']}, pruned {again['pruned']}")
        assert (again["delivered"], again["pruned"], again["failed"]) == (len(reached), 0, 0)
        await arrived(others, 2 * len(reached))
        for chat in others:
            if chat.connection_id in reached:
                assert [d.seq for d in chat.received] == [1, 2], chat.received
        await close_all([sender, *others])
        assert await wait_for_records(gateway, {}) == {}


@pytest.mark.timeout(90)
@async_test(timeout=60)
async def test_throttled_posts_are_retried_and_all_delivered(
    tmp_path: Path, stress_report: Record
) -> None:
    members, sends = 40, 5
    with (
        scenario(
            stress_report,
            "@connections 429 for a share of calls",
            f"connections.throttle=0.08; {sends} broadcasts to {members} members",
        ) as row,
        chat_gateway(tmp_path, *fault_flags("connections.throttle=0.08", "seed=5")) as gateway,
    ):
        sender = await ChatClient.open(gateway.stage_url, "slowdown-sender")
        others = await open_all(gateway, [f"slow-{n}" for n in range(members)], unique("member"))
        acks = [await sender.send(seq, room="lobby") for seq in range(sends)]
        await arrived(others, sum(int(a.get("delivered", 0)) for a in acks))
        throttled = injected(gateway)["connections.throttle"]
        delivered = sum(int(a["delivered"]) for a in acks)
        row.add(
            f"sent {sends}, delivered {delivered} of {sends * members}, "
            f"failed {sum(int(a['failed']) for a in acks)}; injected {throttled} 429s, all retried"
        )
        assert [(a["delivered"], a["pruned"], a["failed"]) for a in acks] == [
            (members, 0, 0)
        ] * sends
        assert all([d.seq for d in c.received] == list(range(sends)) for c in others)
        assert throttled > 0
        await close_all([sender, *others])


@pytest.mark.timeout(120)
@async_test(timeout=90)
async def test_slow_connections_api_still_finishes_within_the_function_timeout(
    tmp_path: Path, stress_report: Record
) -> None:
    members, latency = 64, 1.0
    sequential = members * latency
    with (
        scenario(
            stress_report,
            "slow @connections",
            f"{latency:.0f} s per call (--management-latency-ms); a broadcast to {members} members"
            f" (one by one: {sequential:.0f} s, past the 29 s timeout)",
        ) as row,
        chat_gateway(tmp_path, "--management-latency-ms", str(latency * 1000)) as gateway,
    ):
        # One user with many connections: leaving is announced only with the last one, so
        # closing them does not cost a slow broadcast each.
        reader = unique("reader")
        sender = await ChatClient.open(gateway.stage_url, "slow-sender")
        others = await open_all(gateway, [f"reader-{n}" for n in range(members)], user_id=reader)
        started = time.monotonic()
        ack = await sender.send(1, room="lobby", timeout=40)
        took = time.monotonic() - started
        await arrived(others, int(ack.get("delivered", 0)))
        row.add(f"finished in {took:.1f} s; delivered {ack.get('delivered')} of {members}")
        assert ack.get("type") == "sent", f"the broadcast did not finish: {ack}"
        assert (ack["delivered"], ack["failed"]) == (members, 0)
        assert all([d.seq for d in c.received] == [1] for c in others)
        assert took < 29, "past the integration timeout"
        assert took < sequential / 8, "the posts did not run concurrently"
        await close_all([sender, *others])


# ---------------------------------------------------------------- handlers and clients

IDLE_TIMEOUT = 3.0
POISON = unique("poison")


@pytest.fixture(scope="module")
def clients_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    """One gateway for the two scenarios below: neither fault touches the other's clients."""
    with chat_gateway(
        tmp_path_factory.mktemp("clients"),
        "--idle-timeout",
        str(IDLE_TIMEOUT),
        *fault_flags(f"dynamodb.fail_matching={POISON}"),
        expected_traceback="injected fault",
    ) as gateway:
        yield gateway


@pytest.mark.timeout(90)
@async_test(timeout=60)
async def test_a_raising_handler_answers_its_caller_and_harms_nobody(
    clients_gateway: LocalGateway, stress_report: Record
) -> None:
    gateway, poison = clients_gateway, POISON
    with scenario(
        stress_report,
        "a handler raising",
        f"dynamodb.fail_matching={poison}: a join of that room raises in the handler",
    ) as row:
        room = unique("calm")
        alice, bob = await open_all(gateway, ["alice", "bob"])
        await asyncio.gather(alice.enter(room), bob.enter(room))
        dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
        assert alice.connection_id is not None and bob.connection_id is not None
        before = (await asyncio.to_thread(meta_items, dynamodb))[alice.connection_id]

        reply = await alice.request({"action": "join", "room": poison})
        row.add(f"caller got {reply.get('message')!r}")
        assert reply == {
            "message": "Internal server error",
            "connectionId": alice.connection_id,
            "requestId": reply.get("requestId"),
        }
        assert alice.open_now, "the connection stays open"
        after = (await asyncio.to_thread(meta_items, dynamodb))[alice.connection_id]
        assert after == before, "the failed join changed the connection's record"
        records = await asyncio.to_thread(connection_records, dynamodb)
        assert records == {
            alice.connection_id: expected_records(alice.connection_id, {room}),
            bob.connection_id: expected_records(bob.connection_id, {room}),
        }
        assert await alice.request({"action": "rooms"}) == {"type": "rooms", "rooms": [room]}
        # Both go on as before: each message reaches the other, once.
        assert (await alice.send(1))["delivered"] == 1
        assert (await bob.send(2))["delivered"] == 1
        await arrived([alice, bob], 2)
        assert [d.seq for d in bob.received] == [1] and [d.seq for d in alice.received] == [2]
        failures = {k: n for k, n in invocations(gateway).items() if k[1] != "ok"}
        row.add("state unchanged, both clients carried on")
        assert failures == {("join", "error"): 1}, failures
        assert len(injected_details(gateway, "dynamodb.fail_matching")) == 1
        await close_all([alice, bob])
        assert await wait_for_records(gateway, {}) == {}


@pytest.mark.timeout(90)
@async_test(timeout=60)
async def test_a_client_dropping_tcp_is_disconnected_and_removed(
    clients_gateway: LocalGateway, stress_report: Record
) -> None:
    gateway, idle = clients_gateway, IDLE_TIMEOUT
    with scenario(
        stress_report,
        "a client dropping TCP without a close frame",
        f"a TCP reset; a client gone silent (--idle-timeout {idle:.0f})",
    ) as row:
        room = unique("drop")
        watcher, dropper = await open_all(gateway, ["watcher", "dropper"])
        await asyncio.gather(watcher.enter(room), dropper.enter(room))
        assert watcher.connection_id is not None
        keep = {watcher.connection_id: expected_records(watcher.connection_id, {room})}
        started = time.monotonic()
        await dropper.drop()
        found = await wait_for_records(gateway, keep, timeout=10)
        detected = time.monotonic() - started
        row.add(f"reset: records removed after {detected:.1f} s")
        assert found == keep, "the dropped client's records are still there"
        told = ("left", str(dropper.connection_id))
        deadline = time.monotonic() + 5
        while told not in watcher.presence and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert told in watcher.presence, "its room was told it left"

        await watcher.close()
        assert await wait_for_records(gateway, {}) == {}

        # A client that stops sending without closing: only the idle timeout can tell.
        silent = await RawWebSocket.open(gateway.port, f"/{gateway.stage}?name=silent")
        started = time.monotonic()
        dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
        assert len(await asyncio.to_thread(meta_items, dynamodb)) == 1
        closing = await silent.read_until_eof(timeout=idle + 5)
        code = int.from_bytes(closing[2:4], "big")
        found = await wait_for_records(gateway, {}, timeout=10)
        removed = time.monotonic() - started
        row.add(f"silent: closed with {code}, records removed after {removed:.1f} s")
        assert closing[:1] == b"\x88" and code == 1001, closing
        assert found == {} and idle - 0.5 <= removed < idle + 5


@pytest.mark.timeout(90)
@async_test(timeout=60)
async def test_records_of_a_lost_disconnect_expire_and_are_pruned(
    tmp_path: Path, stress_report: Record
) -> None:
    leavers = 10
    with (
        scenario(
            stress_report,
            "$disconnect never delivered",
            f"gateway.skip_disconnect=1; {leavers} clients close",
        ) as row,
        chat_gateway(tmp_path, *fault_flags("gateway.skip_disconnect=1")) as gateway,
    ):
        sender, *others = await open_all(gateway, [f"ghost-{n}" for n in range(leavers + 1)])
        opened_at = time.monotonic()
        await solo_ids([sender, *others])
        opened = time.time()
        await close_all(others)
        await asyncio.sleep(1)
        dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
        ttl = await asyncio.to_thread(dynamodb.describe_time_to_live, TableName=TABLE)
        assert ttl["TimeToLiveDescription"] == {
            "AttributeName": "expiresAt",
            "TimeToLiveStatus": "ENABLED",
        }
        ghosts = {str(c.connection_id) for c in others}
        assert injected(gateway)["gateway.skip_disconnect"] == leavers
        metas = await asyncio.to_thread(meta_items, dynamodb)
        assert ghosts <= set(metas), "without $disconnect the records stay"
        table = await asyncio.to_thread(items, dynamodb, TABLE)
        for ghost in ghosts:
            expires = {
                int(i["expiresAt"]["N"]) for i in table if ghost in (i["PK"]["S"] + i["SK"]["S"])
            }
            connected = int(metas[ghost]["connectedAt"]["N"]) // 1000
            assert expires == {connected + CONNECTION_TTL_SECONDS}, (ghost, expires)
            assert opened - 5 < connected <= time.time()
        row.add(
            f"{leavers} left records behind, each item expiring at connectedAt + "
            f"{CONNECTION_TTL_SECONDS} s (TTL on expiresAt)"
        )

        await past_the_handshake_grace(opened_at)
        ack = await sender.send(1, room="lobby")
        row.add(f"next broadcast: pruned {ack['pruned']}, delivered {ack['delivered']}")
        assert (ack["delivered"], ack["pruned"], ack["failed"]) == (0, leavers, 0)
        assert set(await asyncio.to_thread(connection_records, dynamodb)) == {sender.connection_id}
        assert set(await asyncio.to_thread(departure_notes, dynamodb)) == ghosts
        await sender.close()
