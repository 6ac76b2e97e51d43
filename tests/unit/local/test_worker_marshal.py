"""A function's result crosses to the gateway as the Lambda runtime would marshal it."""

from __future__ import annotations

import datetime
import decimal
import json
from typing import Any

import pytest

from switchboard.local.worker import encode_answer


def _decoded(result: Any) -> Any:
    return json.loads(encode_answer({"ok": True, "result": result}))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("5", "5.0"),
        ("1.50", "1.5"),
        ("1E+2", "100.0"),
        ("12345678901234567890123", "1.2345678901234568e+22"),
        ("-0", "-0.0"),
        ("Infinity", "Infinity"),
        ("NaN", "NaN"),
    ],
)
def test_decimals_are_written_as_the_runtime_writes_them(value: str, written: str) -> None:
    # The Lambda runtime's marshaller (awslambdaric, python3.12 and 3.13): a Decimal becomes
    # a float subclass, which the json module writes with float.__repr__.
    line = encode_answer({"ok": True, "result": {"n": decimal.Decimal(value)}})

    assert line == b'{"ok": true, "result": {"n": ' + written.encode() + b"}}"


def test_text_stays_unescaped_utf8() -> None:
    line = encode_answer({"ok": True, "result": {"body": "héllo ✓"}})

    assert "héllo ✓".encode() in line


@pytest.mark.parametrize(
    "value",
    [datetime.datetime(2026, 1, 1), {1, 2}, b"bytes", object()],
    ids=["datetime", "set", "bytes", "object"],
)
def test_anything_else_fails_the_invocation_with_a_marshal_error(value: Any) -> None:
    answer = _decoded({"statusCode": 200, "body": "x", "extra": value})

    assert answer["ok"] is False
    assert answer["error"]["errorType"] == "Runtime.MarshalError"
    assert answer["error"]["errorMessage"].startswith("Unable to marshal response: ")
    assert type(value).__name__ in answer["error"]["errorMessage"]
