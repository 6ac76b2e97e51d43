"""One client's WebSocket connection: frames in, messages out, and how it ends.

Built on the Sans-I/O protocol of the `websockets` library, so the gateway sees every frame
(an ASGI server would hand it reassembled messages): API Gateway's limits are per frame
(32 KB) and per message (128 KB), and it rejects binary frames.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State as WsState
from websockets.server import ServerProtocol

from switchboard.local.event_builder import ConnectionInfo

MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024


class State(enum.Enum):
    CONNECTING = "connecting"  # handshake received, $connect not finished: POSTs get 410
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Ending:
    """Why a connection ended: the `disconnectStatusCode` and `disconnectReason` of $disconnect."""

    code: int
    reason: str


NO_STATUS = Ending(CloseCode.NO_STATUS_RCVD, "Client-side close frame status not set")
ABNORMAL = Ending(CloseCode.ABNORMAL_CLOSURE, "")
GOING_AWAY = Ending(CloseCode.GOING_AWAY, "")  # as AWS reports its 1001 closes


class ClientConnection:
    """A connected client as the gateway tracks it."""

    def __init__(
        self, info: ConnectionInfo, protocol: ServerProtocol, writer: asyncio.StreamWriter
    ) -> None:
        self.info = info
        self.protocol = protocol
        self.writer = writer
        self.state = State.CONNECTING
        self.opened_at = time.monotonic()
        self.last_active_ms = info.connected_at
        self._last_active_monotonic = time.monotonic()
        self.ending: Ending | None = None
        self._fragments: list[bytes] = []
        self._fragment_opcode: Opcode | None = None
        self._flush_scheduled = False

    @property
    def connection_id(self) -> str:
        return self.info.connection_id

    def touch(self) -> None:
        self.last_active_ms = int(time.time() * 1000)
        self._last_active_monotonic = time.monotonic()

    def idle_seconds(self) -> float:
        return time.monotonic() - self._last_active_monotonic

    def age_seconds(self) -> float:
        return time.monotonic() - self.opened_at

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.writer.write(data)
            elif not self.writer.is_closing():
                # An empty chunk means "half-close": the server closes the TCP connection.
                self.writer.close()

    @property
    def deliverable(self) -> bool:
        """Open in the gateway's books and on the wire (not closing)."""
        return self.state is State.OPEN and self.protocol.state is WsState.OPEN

    def send(self, payload: bytes) -> None:
        """Deliver one message; text when it is UTF-8, binary otherwise."""
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            self.protocol.send_binary(payload)
        else:
            self.protocol.send_text(payload)
        self.touch()
        self._flush_soon()

    def _flush_soon(self) -> None:
        """Write the frame once the current callback is done, keeping frames in order.

        A `@connections` POST is answered as soon as the message is accepted (the service
        delivers asynchronously too), so the fan-out loop waiting on that answer is not also
        waiting on a socket write to the recipient: the write is one of the two syscalls of
        each POST. Any other flush in between writes everything queued, in order.
        """
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def close(self, ending: Ending) -> None:
        """Start the closing handshake from the gateway's side."""
        if self.ending is None:
            self.ending = ending
        if self.protocol.state is WsState.OPEN:
            self.protocol.send_close(ending.code, ending.reason if ending.code != 1005 else "")
            self.flush()

    def fail(self, code: int, reason: str) -> None:
        if self.ending is None:
            self.ending = Ending(code, reason)
        self.protocol.fail(code, reason)
        self.flush()

    def messages(self, frames: list[Frame]) -> list[str]:
        """Complete text messages in these frames; enforces binary and UTF-8 rules."""
        complete: list[str] = []
        for frame in frames:
            if frame.opcode is Opcode.CLOSE:
                self._note_close_received()
                continue
            if frame.opcode in (Opcode.PING, Opcode.PONG):
                self.touch()
                continue
            self.touch()
            if frame.opcode is Opcode.BINARY or (
                frame.opcode is Opcode.CONT and self._fragment_opcode is Opcode.BINARY
            ):
                self.fail(CloseCode.UNSUPPORTED_DATA, "Binary frames are not supported")
                return complete
            if frame.opcode is Opcode.TEXT:
                self._fragment_opcode = Opcode.TEXT
                self._fragments = [bytes(frame.data)]
            else:
                self._fragments.append(bytes(frame.data))
            if frame.fin:
                data = b"".join(self._fragments)
                self._fragments = []
                self._fragment_opcode = None
                try:
                    complete.append(data.decode("utf-8"))
                except UnicodeDecodeError:
                    self.fail(CloseCode.INVALID_DATA, "Invalid UTF-8 in text frame")
                    return complete
        return complete

    def _note_close_received(self) -> None:
        if self.ending is not None:
            return
        received = self.protocol.close_rcvd
        if received is None or received.code == CloseCode.NO_STATUS_RCVD:
            self.ending = NO_STATUS
        else:
            self.ending = Ending(received.code, received.reason)

    def parser_ending(self) -> Ending:
        """The ending after the protocol failed the connection (size limits, bad frames)."""
        sent = self.protocol.close_sent
        if self.ending is not None:
            return self.ending
        if sent is not None and sent.code != CloseCode.ABNORMAL_CLOSURE:
            return Ending(sent.code, sent.reason)
        return ABNORMAL
