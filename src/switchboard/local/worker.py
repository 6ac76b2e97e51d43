"""One Lambda execution environment: a process that imports a handler once and invokes it.

Run as `python -m switchboard.local.worker HANDLER CODE_DIR`. Requests arrive on stdin and
answers leave on a private copy of stdout, one JSON object per line; the handler's own
prints and logs go to stderr, which the gateway shows, so they can never corrupt the protocol.
"""

from __future__ import annotations

import decimal
import importlib
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

from switchboard.local.lean_transport import LeanTransport


class LambdaContext:
    """The attributes of the Lambda context object that handlers commonly use."""

    def __init__(self, request_id: str, deadline: float) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{name}"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def load_handler(spec: str) -> Callable[[Any, Any], Any]:
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Handler {spec!r} must be module.function")
    module = importlib.import_module(module_name)
    handler = getattr(module, function_name)
    if not callable(handler):
        raise TypeError(f"Handler {spec!r} is not callable")
    return handler  # type: ignore[no-any-return]


def _lambda_json(value: Any) -> Any:
    """What the Lambda Python runtime's marshaller accepts beyond plain JSON: a Decimal (as
    boto3's DynamoDB resource returns numbers) is written as the float it rounds to, so
    `Decimal("5")` is `5.0` and `Decimal("1.50")` is `1.5`. (The runtime wraps it in a float
    subclass meant to print the decimal's text, but the json module writes floats with
    float.__repr__, so the float is what comes out.) Anything else it cannot write fails the
    invocation with Runtime.MarshalError, as in Lambda."""
    if isinstance(value, decimal.Decimal):
        return math.nan if value.is_nan() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_answer(answer: dict[str, Any]) -> bytes:
    """One answer line; a result Lambda could not marshal becomes its MarshalError."""
    try:
        return json.dumps(answer, default=_lambda_json, ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        failure = _error(exc, "Runtime.MarshalError")
        failure["errorMessage"] = f"Unable to marshal response: {exc}"
        return json.dumps({"ok": False, "error": failure}).encode()


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


#: botocore's data loader with service models already parsed, set by the zygote before it
#: forks (parsing DynamoDB's model costs ~130 ms of a cold start); None in a plain process.
warm_loader: Any = None


def lighten_management_calls(unix_sockets: dict[str, str] | None = None) -> None:
    """Make `@connections` calls cheap: unsigned, over the lean transport.

    The local gateway does not verify SigV4, and signing is about a third of the CPU a
    `post_to_connection` costs; urllib3 is most of the rest (see lean_transport). Fan-out
    makes hundreds of these calls per message. Only the default boto3 session is changed,
    before the handler is imported; every other service is signed and sent as in AWS.
    `unix_sockets` maps the gateway's origin to the Unix socket it also listens on.
    """
    try:
        import boto3  # noqa: PLC0415 - only when the function uses boto3 at all
        import botocore  # noqa: PLC0415
        import botocore.session  # noqa: PLC0415
    except ImportError:
        return
    session = botocore.session.Session()
    if warm_loader is not None:
        # Service models parsed once in the zygote; everything else is read afresh here.
        session.register_component("data_loader", warm_loader)
    boto3.setup_default_session(botocore_session=session)
    assert boto3.DEFAULT_SESSION is not None
    events = boto3.DEFAULT_SESSION.events
    events.register("choose-signer.apigatewaymanagementapi", lambda **_: botocore.UNSIGNED)
    transport: Any = LeanTransport(unix_sockets)  # the stubs type handlers as returning None
    events.register("before-send.apigatewaymanagementapi", transport)


def serve(
    handler_spec: str,
    code_dir: str,
    requests: IO[bytes],
    answers: IO[bytes],
    unix_sockets: dict[str, str] | None = None,
) -> None:
    sys.path.insert(0, code_dir)
    lighten_management_calls(unix_sockets)
    init_error: dict[str, Any] | None = None
    handler: Callable[[Any, Any], Any] | None = None
    try:
        handler = load_handler(handler_spec)
    except Exception as exc:  # reported on every invocation, as Lambda does
        init_error = _error(exc, "Runtime.ImportModuleError")
        traceback.print_exc()
    answers.write(b'{"ready":true}\n')
    answers.flush()
    for line in requests:
        request = json.loads(line)
        answer: dict[str, Any]
        if handler is None:
            answer = {"ok": False, "error": init_error}
        else:
            context = LambdaContext(request["requestId"], request["deadline"])
            try:
                result = handler(request["event"], context)
                answer = {"ok": True, "result": result}
            except Exception as exc:
                if str(exc) == "Unauthorized":
                    # An authorizer refusing a token: an answer, not a failure to trace.
                    print(f"[ERROR] {type(exc).__name__}: Unauthorized", file=sys.stderr)
                else:
                    traceback.print_exc()
                answer = {"ok": False, "error": _error(exc)}
        answers.write(encode_answer(answer) + b"\n")
        answers.flush()


def main() -> None:
    handler_spec, code_dir = sys.argv[1], sys.argv[2]
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(handler_spec, code_dir, sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
