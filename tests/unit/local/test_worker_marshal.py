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


def test_decimals_are_json_numbers() -> None:
    answer = _decoded({"n": decimal.Decimal("5"), "x": decimal.Decimal("1.25")})

    assert answer == {"ok": True, "result": {"n": 5, "x": 1.25}}
    assert isinstance(answer["result"]["n"], int)


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
