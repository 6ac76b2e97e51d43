"""The embedded DynamoDB: moto's server in a child process, one request at a time.

Run as `python -m switchboard.local.dynamodb_server --port 0`; prints `READY <port>` and
serves until its stdin closes (so it never outlives the gateway that started it).

moto's backend is not safe under concurrent writes (a burst of TransactWriteItems fails
with "dictionary changed size during iteration"), so every request holds one lock. It runs
in its own process so that moto's CPU time does not stall the gateway's event loop.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]


def serialised(app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> Any:
    lock = threading.Lock()

    def wrapper(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        with lock:
            return [b"".join(app(environ, start_response))]

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):  # type: ignore[misc]
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """Per-request access lines would drown the gateway's own output."""

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        args.host, args.port, serialised(app), threaded=True, request_handler=QuietHandler
    )

    def exit_when_parent_goes() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
