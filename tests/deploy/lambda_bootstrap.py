"""Import one Lambda handler and invoke it as the Python runtime does, on a sys.path we give.

Run by lambda_sandbox.py as `python3.13 -I -S -B lambda_bootstrap.py`: isolated (no PYTHON*
variables, no user site directory, not even this script's directory on sys.path) and
without site-packages, so the only code it can import is the standard library plus the
directories the request names: the function's package, its layers, and the runtime's boto3.
Only the standard library is used here.

Request (stdin, JSON): {"path": [...], "handler": "pkg.module.function", "events": [...]}.
The events are handled one after another, as a warm container would. Answer (stdout,
JSON): the import time, for each event the response or the error and the AWS API calls it
made, and the modules loaded (by path entry). The handler's own output goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The attributes of the runtime's context object that handlers and Mangum read."""

    def __init__(self) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = (
            f"arn:aws:lambda:{os.environ.get('AWS_REGION', 'us-east-1')}:123456789012"
            f":function:{self.function_name}"
        )
        self.aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "2026/11/28/[$LATEST]0123456789abcdef"
        self._deadline = time.monotonic() + float(os.environ.get("FUNCTION_TIMEOUT", "29"))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def record_calls(calls: list[list[dict[str, Any]]]) -> None:
    """Note every AWS API call in the newest list: service, operation, the resources named."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def make_api_call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        calls[-1].append(
            {
                "service": self.meta.service_model.endpoint_prefix,
                "signingName": self.meta.service_model.signing_name,
                "operation": operation,
                "params": {k: v for k, v in params.items() if k in RESOURCE_PARAMS},
                "transactItems": [
                    {kind: item[kind].get("TableName") for kind in item}
                    for item in params.get("TransactItems", [])
                ],
                "requestItems": sorted(params.get("RequestItems", {})),
            }
        )
        return original(self, operation, params)

    BaseClient._make_api_call = make_api_call  # type: ignore[attr-defined]


RESOURCE_PARAMS = {"TableName", "SecretId", "ConnectionId"}


def modules_by_path_entry(entries: list[str]) -> dict[str, list[str]]:
    """Top-level modules loaded from each of our sys.path entries (stdlib left out)."""
    found: dict[str, set[str]] = {entry: set() for entry in entries}
    for name, module in list(sys.modules.items()):
        location = getattr(module, "__file__", None)
        if not location:
            continue
        for entry in entries:
            if os.path.abspath(location).startswith(os.path.join(entry, "")):
                found[entry].add(name.partition(".")[0])
    return {entry: sorted(names) for entry, names in found.items()}


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # print() and the handler's log lines go to stderr from here on
    request = json.load(sys.stdin)
    entries = [os.path.abspath(entry) for entry in request["path"]]
    answer: dict[str, Any] = {"sysPath": list(sys.path)}
    sys.path[:0] = entries
    module_name, _, attribute = request["handler"].rpartition(".")
    started = time.perf_counter()
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except BaseException as error:
        answer["importError"] = {"type": type(error).__name__, "message": str(error)}
        answer["traceback"] = traceback.format_exc()
        answer["modules"] = modules_by_path_entry(entries)
        json.dump(answer, answers)
        answers.close()
        return
    answer["importMs"] = (time.perf_counter() - started) * 1000
    calls: list[list[dict[str, Any]]] = []
    results: list[dict[str, Any]] = []
    answer["results"] = results
    if request["events"]:
        record_calls(calls)
    for event in request["events"]:
        calls.append([])
        result: dict[str, Any] = {"calls": calls[-1]}
        try:
            result["response"] = handler(event, LambdaContext())
        except Exception as error:
            result["error"] = {"type": type(error).__name__, "message": str(error)}
            result["traceback"] = traceback.format_exc()
        results.append(result)
    answer["modules"] = modules_by_path_entry(entries)
    json.dump(answer, answers, default=str)
    answers.close()


if __name__ == "__main__":
    main()
