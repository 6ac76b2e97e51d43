"""The lean transport's socket handling: a silent server, a server closing kept-alive sockets.

Real boto3 and a real Unix socket; the server is a thread that answers as the test says.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, HTTPClientError, ReadTimeoutError

from switchboard.local import lean_transport
from switchboard.local.lean_transport import LeanTransport

ORIGIN = "http://127.0.0.1:9"  # never dialled: the transport maps it to the Unix socket
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"

#: What the server does with one request on one socket: the bytes to answer (None: stay
#: silent), and whether to close the socket after it.
Answer = Callable[[int], tuple[bytes | None, bool]]


class UnixServer:
    """Counts the requests (by their head) on each accepted socket, answering as told."""

    def __init__(self, path: str, answer: Answer) -> None:
        self.requests: list[int] = []  # the socket number of each request, in order
        self._answer = answer
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen()
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        accepted = 0
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            accepted += 1
            threading.Thread(target=self._talk, args=(conn, accepted), daemon=True).start()

    def _talk(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(5)
        with conn:
            buffer = b""
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    _, _, buffer = buffer.partition(b"\r\n\r\n")
                    buffer = buffer[len(b"ping") :]  # every test posts b"ping"
                    self.requests.append(number)
                    reply, close = self._answer(len(self.requests))
                    if reply is not None:
                        conn.sendall(reply)
                    if close:
                        return


@pytest.fixture
def socket_path() -> Iterator[str]:
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer.
    short = Path("/tmp") / f"lean-{time.monotonic_ns()}.sock"
    yield str(short)
    short.unlink(missing_ok=True)


def management_client(path: str) -> Any:
    session = boto3.session.Session()
    transport: Any = LeanTransport({ORIGIN: path})
    session.events.register("before-send.apigatewaymanagementapi", transport)
    session.events.register("choose-signer.apigatewaymanagementapi", lambda **_: botocore.UNSIGNED)
    return session.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{ORIGIN}/prod",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # the calls are unsigned
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def test_a_silent_server_times_out_without_the_request_being_sent_again(
    socket_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lean_transport, "_TIMEOUT", 0.3)
    server = UnixServer(socket_path, lambda _: (None, False))
    try:
        api = management_client(socket_path)
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            api.post_to_connection(ConnectionId="abc=", Data=b"ping")
        waited = time.monotonic() - started
    finally:
        server.close()

    assert 0.25 <= waited < 3
    # The request may have been applied: only botocore's retry policy may send it again.
    assert server.requests == [1]


def test_a_kept_alive_socket_the_server_closed_is_replaced_once(socket_path: str) -> None:
    # The first answer comes on a socket the server then closes (as an idle keep-alive
    # socket is closed): the next call finds it closed and is sent on a new socket.
    server = UnixServer(socket_path, lambda n: (OK, n == 1))
    try:
        api = management_client(socket_path)
        first = api.post_to_connection(ConnectionId="abc=", Data=b"ping")
        time.sleep(0.1)  # the server has closed the first socket by now
        second = api.post_to_connection(ConnectionId="abc=", Data=b"ping")
    finally:
        server.close()

    assert first["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert server.requests == [1, 2]  # one request on each socket, none lost or doubled


def test_an_answer_cut_short_is_not_sent_again(socket_path: str) -> None:
    # The answer had begun: the gateway applied the request. Sending it again on a new
    # socket would deliver the message twice.
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"
    server = UnixServer(socket_path, lambda n: (OK, False) if n == 1 else (cut, True))
    try:
        api = management_client(socket_path)
        api.post_to_connection(ConnectionId="abc=", Data=b"ping")  # the socket is kept alive
        with pytest.raises(ConnectionClosedError):
            api.post_to_connection(ConnectionId="abc=", Data=b"ping")
    finally:
        server.close()

    assert server.requests == [1, 1]


def test_a_fresh_socket_closed_without_an_answer_is_not_sent_again(socket_path: str) -> None:
    # Only a kept-alive socket may have been closed while idle; a new one closing at once
    # says nothing about whether the request was applied.
    server = UnixServer(socket_path, lambda _: (None, True))
    try:
        api = management_client(socket_path)
        with pytest.raises(ConnectionClosedError):
            api.post_to_connection(ConnectionId="abc=", Data=b"ping")
    finally:
        server.close()

    assert server.requests == [1]


def test_an_answer_that_is_not_http_fails_the_call_and_the_socket_is_replaced(
    socket_path: str,
) -> None:
    garbage = b"SSH-2.0-OpenSSH\r\n\r\n"
    server = UnixServer(socket_path, lambda n: (garbage, False) if n == 1 else (OK, False))
    try:
        api = management_client(socket_path)
        with pytest.raises(HTTPClientError):
            api.post_to_connection(ConnectionId="abc=", Data=b"ping")
        after = api.post_to_connection(ConnectionId="abc=", Data=b"ping")
    finally:
        server.close()

    assert after["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert server.requests == [1, 2]  # the next call did not read what was left on the first
