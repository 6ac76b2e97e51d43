"""Lambda handlers that show what the real chat cannot: slow, crashing, echoing, authorizing.

Every handler records the event it received as one JSON file in `EVENT_LOG_DIR` (written
whole, then renamed, so a reader never sees half a file). The files outlive the gateway, so
tests can check `$disconnect` runs even after the gateway has exited. Only the standard
library is imported: this is a Lambda code directory of its own.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import threading
import time
import uuid
from typing import Any

#: Set by the `env-*` routes; a warm process keeps it, another function never sees it.
STATE: dict[str, Any] = {}


def record(kind: str, event: Any) -> None:
    directory = os.environ["EVENT_LOG_DIR"]
    name = f"{kind}.{uuid.uuid4().hex}"
    temporary = os.path.join(directory, f".{name}.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(
            {"kind": kind, "function": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"), "event": event},
            stream,
        )
    os.replace(temporary, os.path.join(directory, f"{name}.json"))


def _query(event: dict[str, Any]) -> dict[str, str]:
    return event.get("queryStringParameters") or {}


def _body(event: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(event.get("body") or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _reply(value: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(value)}


def connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`$connect`: `?slow=S` sleeps S s, `?reject=1` answers 403, `?status=N` answers N,
    `?raise=1` raises."""
    record("connect", event)
    query = _query(event)
    if "slow" in query:
        time.sleep(float(query["slow"]))
    if query.get("reject") == "1":
        return {"statusCode": 403, "body": "rejected by the fixture"}
    if "status" in query:
        return {"statusCode": int(query["status"])}
    if query.get("raise") == "1":
        raise RuntimeError("connect failed on purpose")
    return {"statusCode": 200}


def disconnect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Sleeps for the `disconnectDelay` the authorizer put in the connection's context."""
    record("disconnect", event)
    authorizer = event["requestContext"].get("authorizer") or {}
    time.sleep(float(authorizer.get("disconnectDelay", 0)))
    return {"statusCode": 200}


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Any message route: the reply is the event itself."""
    record("message", event)
    return _reply({"echo": event})


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`{"action": "slow", "seconds": S}` sleeps S s, then replies with the time it had left
    when it started (`remaining`, ms) when asked (`"remaining": true`)."""
    record("message", event)
    remaining = context.get_remaining_time_in_millis()
    body = _body(event)
    seconds = float(body.get("seconds", 1))
    time.sleep(seconds)
    if body.get("remaining"):
        return _reply({"slept": seconds, "remaining": remaining})
    return _reply({"slept": seconds})


#: What `shaped` returns for each `{"as": ...}`: results a Lambda function may hand back.
SHAPES: dict[str, Any] = {
    "object-body": {"statusCode": 200, "body": {"a": 1, "ok": True, "none": None}},
    "list": ["a", 1, None],
    "text": "plain text",
    "decimal-body": {"statusCode": 200, "body": {"n": decimal.Decimal("1.5")}},
    "datetime": {"statusCode": 200, "body": "x", "at": datetime.datetime(2026, 1, 1)},
}


def shaped(event: dict[str, Any], context: Any) -> Any:
    """`{"action": "shape", "as": NAME}` returns SHAPES[NAME] as it is."""
    record("message", event)
    return SHAPES[_body(event)["as"]]


def crash(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record("message", event)
    raise RuntimeError("crash on purpose")


def environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What this function's process sees; `{"set": X}` stores X in a module global first."""
    record("message", event)
    body = _body(event)
    if "set" in body:
        STATE["mark"] = body["set"]
    names = ("FLAVOUR", "ONLY_A", "ONLY_B", "SHARED", "LEAK_CANARY", "AWS_LAMBDA_FUNCTION_NAME")
    return _reply(
        {
            "env": {name: os.environ.get(name) for name in names},
            "mark": STATE.get("mark"),
            "pid": os.getpid(),
            "cores": _cores(),
            "thread_cores": _thread_cores(),
            "batch": _batch(),
        }
    )


def _cores() -> list[int] | None:
    getter = getattr(os, "sched_getaffinity", None)
    return None if getter is None else sorted(getter(0))


def _batch() -> bool | None:
    """Whether this process is scheduled as batch work (None: the platform cannot say)."""
    if not hasattr(os, "sched_getscheduler") or not hasattr(os, "SCHED_BATCH"):
        return None
    return os.sched_getscheduler(0) == os.SCHED_BATCH


def _thread_cores() -> list[int] | None:
    """The cores a thread started now may use (a fan-out's posting threads, say)."""
    seen: list[list[int] | None] = []
    thread = threading.Thread(target=lambda: seen.append(_cores()))
    thread.start()
    thread.join()
    return seen[0]


def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """REQUEST authorizer on `?token=`: allow, deny, boom (raises), unauth (401).

    `?disconnect_delay=S` goes into the context, for the `$disconnect` handler to sleep S s.
    """
    record("authorizer", event)
    token = _query(event).get("token")
    if token == "boom":
        raise Exception("boom")
    if token == "unauth":
        raise Exception("Unauthorized")
    effect = "Allow" if token == "allow" else "Deny"
    authorizer_context = {"user": "u1"}
    if "disconnect_delay" in _query(event):
        authorizer_context["disconnectDelay"] = _query(event)["disconnect_delay"]
    return {
        "principalId": "user-u1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}
            ],
        },
        "context": authorizer_context,
    }
