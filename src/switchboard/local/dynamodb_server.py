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
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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
from switchboard.local.fast_reads import fast_get_item, fast_query
from switchboard.local.faults import FaultInjector, FaultPlan
from switchboard.local.transaction_tokens import Mismatch, TransactionTokens

log = logging.getLogger("switchboard.local.dynamodb")
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
DYNAMODB_PREFIX = "DynamoDB_20120810."
ERROR_TYPE_PREFIX = "com.amazonaws.dynamodb.v20120810#"
#: What faults apply to: the item reads and writes functions make. Not Scan (the functions
#: never scan; tests and people inspecting the table do) nor the table's management.
FAULTED_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
_THROTTLED = (
    "The level of configured provisioned throughput for the table was exceeded. "
    "Consider increasing your provisioning level with the UpdateTable API."
)


class KeepAliveHandler(MotoRequestHandler):
    """werkzeug's handler, but keeping connections open as DynamoDB's endpoint does.

    werkzeug answers every request with `Connection: close` (and then waits 10 ms to drain
    the socket), so each boto3 call paid a TCP connect here and a new server thread there:
    about 6 ms for a GetItem. The body is read whole before the app sees it (so the next
    request on the connection starts where it should) and the answer always carries its
    Content-Length; chunked uploads, which boto3 never sends to DynamoDB, take werkzeug's
    own path and close.
    """

    protocol_version = "HTTP/1.1"
    # The head and the body are written separately: with Nagle on, the body waits for the
    # client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def run_wsgi(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            super().run_wsgi()
            return
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            # Unreadable, or -1 (which would read until the client closes): refused.
            self.send_error(400, "malformed Content-Length")
            self.close_connection = True
            return
        body = self.rfile.read(int(declared))
        environ = self.make_environ()
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            answer = _call(self.server.app, environ)
        except Exception:
            log.exception("the embedded DynamoDB failed on %s %s", self.command, self.path)
            answer = Answer(
                "500 Internal Server Error",
                [("Content-Type", "text/plain")],
                b"Internal Server Error",
            )
            self.close_connection = True
        code, _, reason = answer.status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """Per-request access lines would drown the gateway's own output."""


def serialised(
    app: WsgiApp, faults: FaultInjector | None = None, *, dynamodb: WsgiApp | None = None
) -> WsgiApp:
    """One request at a time; Queries of the common shape take the fast path.

    With faults, DynamoDB requests may be refused or have their answer replaced (see
    faults.py); transactions honour `ClientRequestToken` as DynamoDB does. `dynamodb` is
    moto's DynamoDB app, which `app` (moto's dispatcher) would pick for those requests:
    calling it directly skips the dispatcher's search of every moto service (~0.3 ms each).
    """
    dynamodb_app = dynamodb or app
    lock = threading.Lock()
    tokens = TransactionTokens()

    def wrapper(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        with lock:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if not target.startswith(DYNAMODB_PREFIX):
                return [b"".join(app(environ, start_response))]
            operation = target.removeprefix(DYNAMODB_PREFIX)
            answer = _dynamodb(dynamodb_app, environ, operation, faults, tokens)
            start_response(answer.status, answer.headers)
            return [answer.body]

    return wrapper


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def _json_answer(status: str, body: bytes) -> Answer:
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", uuid.uuid4().hex),
    ]
    return Answer(status, headers, body)


def _error(status: str, error_type: str, message: str, **extra: Any) -> Answer:
    body = {"__type": f"{ERROR_TYPE_PREFIX}{error_type}", "message": message, **extra}
    return _json_answer(status, json.dumps(body).encode())


def _dynamodb(
    app: WsgiApp,
    environ: dict[str, Any],
    operation: str,
    faults: FaultInjector | None,
    tokens: TransactionTokens,
) -> Answer:
    raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(raw)  # moto reads it again
    try:
        request: dict[str, Any] = json.loads(raw) if raw else {}
    except ValueError:
        request = {}  # moto answers it, and errors, as it always does
    fault = None
    if faults is not None and operation in FAULTED_OPERATIONS:
        refusal = _refusal(faults, operation, raw)
        if refusal is not None:
            return refusal
        fault = faults.dynamodb_fault()
        if fault in ("throttle", "error"):
            return _injected(faults, fault, operation, request)
    transaction = operation == "TransactWriteItems" and isinstance(request, dict)
    if transaction:
        replayed = tokens.replay(request)
        if isinstance(replayed, Mismatch):
            return _error(
                "400 Bad Request", "IdempotentParameterMismatchException", replayed.message
            )
        if replayed is not None:
            answer = _json_answer("200 OK", replayed)
            return _lost(faults, operation) if fault == "lost_reply" and faults else answer
    answer = _moto(app, environ, operation, raw)
    if transaction and answer.status.startswith("200"):
        tokens.remember(request, answer.body)
    if fault == "lost_reply" and faults is not None:
        return _lost(faults, operation)
    return answer


def _refusal(faults: FaultInjector, operation: str, raw: bytes) -> Answer | None:
    marker = faults.plan.dynamodb_fail_matching
    if marker and marker.encode() in raw:
        faults.note("dynamodb.fail_matching", f"{operation} 400 ValidationException")
        return _error(
            "400 Bad Request",
            "ValidationException",
            f"injected fault: the request contains {marker!r}",
        )
    return None


def _injected(faults: FaultInjector, fault: str, operation: str, request: dict[str, Any]) -> Answer:
    if fault == "error":
        faults.note("dynamodb.error", f"{operation} 500 InternalServerError")
        return _error("500 Internal Server Error", "InternalServerError", "Internal server error")
    if operation == "TransactWriteItems":
        # DynamoDB cancels a transaction it lacks the capacity for, naming the reason per item.
        count = len(request.get("TransactItems") or [None])
        reasons = [{"Code": "ThrottlingError", "Message": _THROTTLED}] + [
            {"Code": "None"} for _ in range(count - 1)
        ]
        codes = ", ".join(reason["Code"] for reason in reasons)
        faults.note("dynamodb.throttle", f"{operation} 400 TransactionCanceledException")
        return _error(
            "400 Bad Request",
            "TransactionCanceledException",
            "Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{codes}]",
            CancellationReasons=reasons,
        )
    faults.note("dynamodb.throttle", f"{operation} 400 ProvisionedThroughputExceededException")
    return _error("400 Bad Request", "ProvisionedThroughputExceededException", _THROTTLED)


def _lost(faults: FaultInjector, operation: str) -> Answer:
    faults.note("dynamodb.lost_reply", f"{operation} applied, answered 500 InternalServerError")
    return _error("500 Internal Server Error", "InternalServerError", "Internal server error")


_FAST_READS = {"Query": fast_query, "GetItem": fast_get_item}


def _moto(app: WsgiApp, environ: dict[str, Any], operation: str, raw: bytes) -> Answer:
    fast_read = _FAST_READS.get(operation)
    if fast_read is not None:
        fast = _fast_answer(fast_read, environ, raw)
        if fast is not None:
            return _json_answer("200 OK", fast)
    return _call(app, environ)


def _call(app: WsgiApp, environ: dict[str, Any]) -> Answer:
    """A WSGI app's whole answer: status, headers and the body joined."""
    captured: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured[:] = [status, headers]
        return lambda data: None

    body = b"".join(app(environ, capture))
    return Answer(captured[0], list(captured[1]), body)


def _fast_answer(
    fast_read: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None],
    environ: dict[str, Any],
    raw: bytes,
) -> bytes | None:
    try:
        tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][_region(environ)].tables
        answer = fast_read(tables, json.loads(raw))
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
    parser.add_argument("--faults", default="", help="NAME=VALUE,... (see faults.py)")
    args = parser.parse_args()
    plan = FaultPlan.parse([args.faults])

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the gateway's; stdin ends us
    if plan.dynamodb_active:
        # Each injected fault is one line on stderr, beside the gateway's own log.
        logging.basicConfig(
            level=logging.WARNING,
            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    moto_patches.apply()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        args.host,
        args.port,
        serialised(
            app,
            FaultInjector(plan) if plan.dynamodb_active else None,
            dynamodb=create_backend_app("dynamodb"),
        ),
        threaded=True,
        request_handler=KeepAliveHandler,
    )

    def exit_when_parent_goes() -> None:
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_when_parent_goes, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
