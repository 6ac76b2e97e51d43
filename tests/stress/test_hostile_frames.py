"""Arbitrary frames to a real `switchboard local` serving template.yaml: never a crash.

The session's hostile-input gateway (tests/stress/conftest.py: guests allowed, as
`switchboard local` runs by default) and a bystander pair connected the whole time in a room
of their own. Each example opens a fresh hostile guest, sends what hypothesis drew, then checks:

- the hostile connection got a clear answer: a protocol reply or error frame for a text
  message within the limits (never API Gateway's "Internal server error"), or the close code
  the README documents (1009 too large, 1003 binary, 1007 invalid UTF-8, 1002 a broken frame);
- its records in the table are exactly a guest's in the rooms its replies said, and
  nothing at all once it is gone;
- the bystander and its peer still send and receive, each frame exactly once, nothing else.

At the end, the gateway's log holds no failed invocation and no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection

from tests.integration.aws_clients import dynamodb_client
from tests.integration.chat_app import guest_records, invocations
from tests.integration.local_gateway import LocalGateway, gateway_tracebacks
from tests.integration.ws_clients import RawWebSocket, client, closed_with, receive_json, url
from tests.plugins.stress_report import Record
from tests.stress.background_loop import BackgroundLoop
from tests.stress.hostile_values import bodies, json_values, utf8_safe
from tests.stress.property_run import recorded
from tests.stress.real_chat import connection_id_of, enter, records_of, wait_until_gone

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

MAX_FRAME = 32 * 1024
MAX_MESSAGE = 128 * 1024
ERROR_CODES = {"bad_request", "invalid_json", "unknown_action", "forbidden", "not_found"}
REPLY_TYPES = {"sent", "joined", "left", "rooms", "members", "history"}
PROPERTY = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TEXT, BINARY, CONTINUATION = 0x1, 0x2, 0x0


@dataclass
class Bystanders:
    """Two well-behaved guests alone in a room of their own, connected throughout."""

    one: ClientConnection
    other: ClientConnection
    room: str
    ids: tuple[str, str]
    exchanges: int = 0

    async def exchange(self) -> None:
        """Each sends one message; each gets its reply, the other the message, nothing else."""
        self.exchanges += 1
        for sender, receiver, sender_id in (
            (self.one, self.other, self.ids[0]),
            (self.other, self.one, self.ids[1]),
        ):
            data = {"seq": self.exchanges, "from": sender_id}
            await sender.send(
                json.dumps({"action": "sendmessage", "room": self.room, "data": data})
            )
            reply = await receive_json(sender)
            assert (reply["type"], reply["delivered"], reply["failed"]) == ("sent", 1, 0), reply
            message = await receive_json(receiver)
            assert (message["type"], message["data"]) == ("message", data), message
            assert message["from"]["connectionId"] == sender_id


@dataclass
class Stage:
    gateway: LocalGateway
    dynamodb: DynamoDBClient
    loop: BackgroundLoop
    bystanders: Bystanders


async def _bystanders(gateway: LocalGateway) -> Bystanders:
    room = f"calm-{uuid.uuid4().hex[:8]}"
    one = await client(url(gateway.stage_url, name="bystander"))
    other = await client(url(gateway.stage_url, name="peer"))
    first = await enter(one, room)
    second = await enter(other, room)
    # `one` was told the peer joined; from here on each frame is one the test expects.
    assert (await receive_json(one))["type"] == "joined"
    return Bystanders(one, other, room, (first, second))


@pytest.fixture(scope="module")
def stage(hostile_gateway: LocalGateway) -> Iterator[Stage]:
    loop = BackgroundLoop()
    try:
        bystanders = loop.run(_bystanders(hostile_gateway))
        dynamodb = dynamodb_client(hostile_gateway.dynamodb_endpoint)
        yield Stage(hostile_gateway, dynamodb, loop, bystanders)
        loop.run(bystanders.exchange())
        loop.run(_close(bystanders.one, bystanders.other))
        loop.run(wait_until_gone(dynamodb, bystanders.ids[0]))
        loop.run(wait_until_gone(dynamodb, bystanders.ids[1]))
    finally:
        loop.close()


async def _close(*connections: ClientConnection) -> None:
    for ws in connections:
        await ws.close()


async def _hostile_guest(stage: Stage) -> tuple[ClientConnection, str]:
    name = f"h-{uuid.uuid4().hex[:10]}"
    ws = await client(url(stage.gateway.stage_url, name=name))
    return ws, await asyncio.to_thread(connection_id_of, stage.dynamodb, name)


async def _records_match(stage: Stage, connection_id: str, rooms: set[str]) -> None:
    found = await asyncio.to_thread(records_of, stage.dynamodb, connection_id)
    assert found == guest_records(connection_id, tuple(rooms)), f"records {found}, rooms {rooms}"


# ------------------------------------------------------------------------------ text frames


def _outcome(reply: dict[str, Any]) -> str:
    """What kind of answer a reply frame is; fails on API Gateway's error frames."""
    assert "type" in reply, f"a gateway error frame, not a protocol answer: {reply}"
    if reply["type"] == "error":
        assert reply["error"] in ERROR_CODES, reply
        assert isinstance(reply["message"], str) and reply["message"], reply
        return str(reply["error"])
    assert reply["type"] in REPLY_TYPES, reply
    return str(reply["type"])


async def _send_text(stage: Stage, body: str | list[str]) -> str:
    """One hostile guest sends one message (fragmented when a list); what it got back."""
    ws, cid = await _hostile_guest(stage)
    rooms = {"lobby"}
    size = sum(len(part.encode()) for part in ([body] if isinstance(body, str) else body))
    largest = max(len(part.encode()) for part in ([body] if isinstance(body, str) else body))
    try:
        with contextlib.suppress(Exception):  # the gateway may close while we still send
            await ws.send(body if isinstance(body, str) else iter(body))
        if largest > MAX_FRAME or size > MAX_MESSAGE:
            code, _ = await closed_with(ws)
            assert code == 1009, f"a {size}-byte message in frames of {largest}: closed {code}"
            outcome = "closed 1009"
        else:
            reply = await receive_json(ws)
            outcome = _outcome(reply)
            if reply["type"] == "joined":
                rooms.add(reply["room"])
            elif reply["type"] == "left":
                rooms.discard(reply["room"])
            await _records_match(stage, cid, rooms)
    finally:
        await ws.close()
    await wait_until_gone(stage.dynamodb, cid)
    await stage.bystanders.exchange()
    return outcome


#: Bodies a text frame can carry (no lone surrogate), up to and past both size limits.
text_frames = bodies.filter(utf8_safe)
fragmented = st.builds(
    lambda data, size: [
        part
        for body in [json.dumps({"action": "sendmessage", "data": data, "pad": "x" * size})]
        for part in (body[i : i + 30_000] for i in range(0, len(body), 30_000))
    ],
    json_values.filter(lambda v: utf8_safe(json.dumps(v, ensure_ascii=False))),
    st.sampled_from([40_000, 100_000, MAX_MESSAGE - 200, MAX_MESSAGE + 10, 200_000]),
)


def test_arbitrary_text_frames(stage: Stage, stress_report: Record) -> None:
    tried: Counter[str] = Counter()

    @settings(PROPERTY, max_examples=30)
    @given(body=text_frames | fragmented)
    def run(body: str | list[str]) -> None:
        tried[stage.loop.run(_send_text(stage, body))] += 1

    recorded(
        stress_report,
        "arbitrary text frames to the gateway",
        "random/deep (to 12,000 levels) JSON, control chars, surrogate escapes, spoofed "
        "identity fields, 0-384 KB bodies, fragmented messages to 200 KB; a bystander pair "
        "exchanging messages after each",
        tried,
        run,
        extra=lambda: f"bystanders exchanged {2 * stage.bystanders.exchanges} messages, each once",
    )


# ------------------------------------------------------------------------------- raw frames


def _close_code(data: bytes) -> int | None:
    """The status code of the first close frame among the server's (unmasked) frames."""
    position = 0
    while position + 2 <= len(data):
        opcode, length = data[position] & 0x0F, data[position + 1] & 0x7F
        position += 2
        if length == 126:
            (length,) = struct.unpack("!H", data[position : position + 2])
            position += 2
        elif length == 127:
            (length,) = struct.unpack("!Q", data[position : position + 8])
            position += 8
        payload = data[position : position + length]
        position += length
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
    return None


def _invalid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


Frame = tuple[int, bytes, bool]  # opcode, payload, fin

invalid_utf8 = st.binary(min_size=1, max_size=40).filter(_invalid_utf8)
wrapped = st.builds(lambda bad: b'{"action": "sendmessage", "data": "' + bad + b'"}', invalid_utf8)
raw_cases: st.SearchStrategy[tuple[str, int | None, list[Frame]]] = st.one_of(
    st.builds(lambda payload: ("invalid UTF-8", 1007, [(TEXT, payload, True)]), wrapped),
    st.builds(
        lambda payload, cut: (
            "invalid UTF-8 across fragments",
            1007,
            [(TEXT, payload[:cut], False), (CONTINUATION, payload[cut:], True)],
        ),
        wrapped,
        st.integers(1, 30),
    ),
    # A character split between fragments is valid: only the whole message is decoded.
    st.builds(
        lambda char, cut: (
            "UTF-8 split across fragments",
            None,
            [
                (TEXT, f'{{"action": "nope", "x": "{char}'.encode()[:-cut], False),
                (CONTINUATION, f'{{"action": "nope", "x": "{char}'.encode()[-cut:], False),
                (CONTINUATION, b'"}', True),
            ],
        ),
        st.sampled_from(["é", "€", "😀"]),
        st.integers(1, 2),
    ),
    st.builds(
        lambda payload: ("binary frame", 1003, [(BINARY, payload, True)]),
        st.binary(max_size=200) | st.just(b'{"action": "sendmessage", "data": "hi"}'),
    ),
    st.builds(
        lambda opcode, payload: ("reserved opcode", 1002, [(opcode, payload, True)]),
        st.sampled_from([0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC]),
        st.binary(max_size=20),
    ),
    st.builds(
        lambda payload: ("continuation without a start", 1002, [(CONTINUATION, payload, True)]),
        st.binary(max_size=20),
    ),
)


async def _send_raw(stage: Stage, expected: int | None, frames: list[Frame]) -> None:
    name = f"r-{uuid.uuid4().hex[:10]}"
    raw = await RawWebSocket.open(stage.gateway.port, f"/{stage.gateway.stage}?name={quote(name)}")
    cid = await asyncio.to_thread(connection_id_of, stage.dynamodb, name)
    try:
        for opcode, payload, fin in frames:
            await raw.send_frame(opcode, payload, fin=fin)
        answered = b""
        if expected is None:
            # The reply first: a close frame now would end the connection before it comes.
            answered = await asyncio.wait_for(raw.reader.readuntil(b'"unknown_action"'), 10)
            await raw.send_frame(0x8, struct.pack("!H", 1000))
        received = answered + await raw.read_until_eof()
    finally:
        raw.drop()
    code = _close_code(received)
    if expected is None:
        assert b'"error":"unknown_action"' in received, received[:300]
        assert code == 1000, received[:300]
    else:
        assert code == expected, f"closed with {code}, expected {expected}: {received[:300]!r}"
    await wait_until_gone(stage.dynamodb, cid)
    await stage.bystanders.exchange()


def test_invalid_utf8_binary_and_broken_frames(stage: Stage, stress_report: Record) -> None:
    tried: Counter[str] = Counter()

    @settings(PROPERTY, max_examples=18)
    @given(case=raw_cases)
    def run(case: tuple[str, int | None, list[Frame]]) -> None:
        kind, expected, frames = case
        stage.loop.run(_send_raw(stage, expected, frames))
        tried[f"{kind}: {expected or 'answered'}"] += 1

    recorded(
        stress_report,
        "invalid UTF-8, binary and broken frames to the gateway",
        "raw frames: invalid UTF-8 (whole and across fragments), binary, reserved opcodes, "
        "stray continuations; a bystander pair exchanging messages after each",
        tried,
        run,
        extra=lambda: f"bystanders exchanged {2 * stage.bystanders.exchanges} messages, each once",
    )


def test_no_invocation_failed_and_no_traceback(stage: Stage) -> None:
    counts = invocations(stage.gateway)
    failed = {key: n for key, n in counts.items() if key[1] in {"error", "malformed_event"}}
    assert failed == {}, f"failed invocations: {failed}"
    assert gateway_tracebacks(stage.gateway.stderr()) == []
    assert sum(counts.values()) > 100, "the runs above reached the handlers"
