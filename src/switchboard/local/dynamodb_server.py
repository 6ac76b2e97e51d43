"""The embedded DynamoDB: moto's server in a child process, one request at a time.

Run as `python -m switchboard.local.dynamodb_server --port 0`; prints `READY <port>` and
serves until its stdin closes (so it never outlives the gateway that started it).

moto's backend is not safe under concurrent writes (a burst of TransactWriteItems fails
with "dictionary changed size during iteration"), so every request holds one lock. It runs
in its own process so that moto's CPU time does not stall the gateway's event loop.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from switchboard.local import moto_patches
from switchboard.local.fast_query import fast_query

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
QUERY_TARGET = "DynamoDB_20120810.Query"


class QuietHandler(MotoRequestHandler):
    # Keep-alive: werkzeug's HTTP/1.0 default makes boto3 open a connection per call.
    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Per-request access lines would drown the gateway's own output."""


def serialised(app: WsgiApp) -> WsgiApp:
    """One request at a time; Queries of the common shape take the fast path."""
    lock = threading.Lock()

    def wrapper(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        with lock:
            if environ.get("HTTP_X_AMZ_TARGET") == QUERY_TARGET:
                answer = _fast_answer(environ)
                if answer is not None:
                    start_response(
                        "200 OK",
                        [
                            ("Content-Type", "application/x-amz-json-1.0"),
                            ("Content-Length", str(len(answer))),
                            ("x-amzn-RequestId", uuid.uuid4().hex),
                        ],
                    )
                    return [answer]
            return [b"".join(app(environ, start_response))]

    return wrapper


def _fast_answer(environ: dict[str, Any]) -> bytes | None:
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(raw)  # moto reads it again when we decline
    try:
        tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][_region(environ)].tables
        answer = fast_query(tables, json.loads(raw))
        return json.dumps(answer).encode() if answer is not None else None
    except Exception:  # anything unusual: moto answers, and errors, as it always does
        return None


def _region(environ: dict[str, Any]) -> str:
    # Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/dynamodb/aws4_request
    parts = environ.get("HTTP_AUTHORIZATION", "").split("Credential=", 1)[-1].split("/")
    return parts[2] if len(parts) > 3 else "us-east-1"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the gateway's; stdin ends us
    moto_patches.apply()
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
