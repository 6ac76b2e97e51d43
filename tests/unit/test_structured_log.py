"""JSON log lines: the formatter, the logger set-up, and one line per invocation without bodies."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from switchboard.structured_log import JsonFormatter, get_logger
from tests.support.events import connection_id
from tests.support.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

LogLines = Callable[[], list[dict[str, Any]]]
ADA, BOB = connection_id(1), connection_id(2)
SECRET = "s3cr3t-body-marker"
INVOCATION_FIELDS = {
    "ts",
    "level",
    "logger",
    "message",
    "route",
    "connectionId",
    "requestId",
    "outcome",
    "durationMs",
}


def record(**extra: Any) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {
            "name": "switchboard.test",
            "levelname": "INFO",
            "levelno": 20,
            "msg": "hi %s",
            "args": ("there",),
            "created": 1795830432.345,
            "msecs": 345.0,
        }
    )
    made.__dict__.update(extra)
    return made


def test_formatter_writes_one_json_object() -> None:
    line = JsonFormatter().format(record(connectionId="c=", durationMs=1.5))
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2026-11-28T01:47:12.345Z",
        "level": "INFO",
        "logger": "switchboard.test",
        "message": "hi there",
        "connectionId": "c=",
        "durationMs": 1.5,
    }


def test_formatter_stringifies_what_json_cannot_hold() -> None:
    line = json.loads(JsonFormatter().format(record(rooms={"dev"})))
    assert line["rooms"] == "{'dev'}"


def test_formatter_includes_the_exception() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        exc = record(exc_info=sys.exc_info())
    line = json.loads(JsonFormatter().format(exc))
    assert line["exception"].startswith("Traceback")
    assert "ValueError: broken" in line["exception"]


def test_get_logger_configures_once() -> None:
    logger = get_logger("switchboard.test-once", "WARNING")
    again = get_logger("switchboard.test-once", "DEBUG")
    assert logger is again
    assert len(logger.handlers) == 1
    assert isinstance(logger.handlers[0].formatter, JsonFormatter)
    assert logger.propagate is False, "Lambda's root handler would print each line twice"
    assert logger.level == logging.DEBUG


def check_invocation_line(line: dict[str, Any], route: str, cid: str, outcome: str) -> None:
    assert set(line) == INVOCATION_FIELDS
    assert (line["message"], line["level"], line["logger"]) == ("invocation", "INFO", "switchboard")
    assert (line["route"], line["connectionId"], line["outcome"]) == (route, cid, outcome)
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", line["requestId"])
    assert isinstance(line["durationMs"], float | int) and line["durationMs"] >= 0


def test_one_line_per_invocation_and_never_the_body(stack: Stack, log_lines: LogLines) -> None:
    stack.connect(ADA, name="ada")
    stack.connect(BOB, name="bob")
    stack.send(ADA, {"action": "sendmessage", "data": SECRET})
    stack.send(ADA, {"action": "join", "room": SECRET})
    stack.send(ADA, {"action": SECRET})
    stack.send_raw(ADA, f"not json {SECRET}")
    stack.send(ADA, {"action": "sendmessage", "data": SECRET, "room": "not-mine"})
    stack.disconnect(ADA)
    lines = log_lines()
    assert [(line["route"], line["outcome"]) for line in lines] == [
        ("$connect", "ok"),
        ("$connect", "ok"),
        ("sendmessage", "ok"),
        ("join", "ok"),
        ("$default", "unknown_action"),
        ("$default", "invalid_json"),
        ("sendmessage", "forbidden"),
        ("$disconnect", "ok"),
    ]
    for line, cid in zip(lines, [ADA, BOB, ADA, ADA, ADA, ADA, ADA, ADA], strict=True):
        check_invocation_line(line, line["route"], cid, line["outcome"])
    assert SECRET not in json.dumps(lines)


def test_a_failing_invocation_logs_no_body_either(
    stack: Stack, db: DynamoDBClient, table: str, log_lines: LogLines
) -> None:
    stack.connect(ADA)
    db.delete_table(TableName=table)
    with pytest.raises(Exception, match="ResourceNotFoundException"):
        stack.send(ADA, {"action": "sendmessage", "data": SECRET})
    lines = log_lines()
    invocations = [line for line in lines if line["message"] == "invocation"]
    assert [line["outcome"] for line in invocations] == ["ok", "error"]
    check_invocation_line(invocations[1], "sendmessage", ADA, "error")
    assert SECRET not in json.dumps(lines)


def test_log_level_from_the_configuration(
    stack: Stack, log_lines: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    stack.connect(ADA)
    stack.send(ADA, {"action": "dance"})
    assert log_lines() == [], "INFO lines are off at WARNING"
    assert logging.getLogger("switchboard").level == logging.WARNING
