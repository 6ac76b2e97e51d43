"""Lambda results turned into HTTP responses as HTTP APIs do it for payload format 2.0."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from switchboard.local.http_api_responses import (
    INTERNAL_SERVER_ERROR,
    NOT_FOUND,
    REQUEST_TOO_LARGE,
    SERVICE_UNAVAILABLE,
    InvalidLambdaResponse,
    from_lambda_result,
)


def test_a_structured_response_keeps_status_headers_and_body() -> None:
    response = from_lambda_result(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Count": 3, "X-Flag": True},
            "body": "created",
        }
    )
    assert response.status == 201
    assert response.headers == [
        ("Content-Type", "text/plain"),
        ("X-Count", "3"),
        ("X-Flag", "true"),
    ]
    assert response.body == b"created"


def test_each_cookie_becomes_a_set_cookie_header() -> None:
    response = from_lambda_result(
        {"statusCode": 200, "cookies": ["a=1; Path=/", "b=2; HttpOnly"], "body": ""}
    )
    assert response.headers == [("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2; HttpOnly")]


def test_multi_value_headers_are_not_part_of_the_2_0_format() -> None:
    response = from_lambda_result(
        {"statusCode": 200, "multiValueHeaders": {"X-Many": ["1", "2"]}, "body": "x"}
    )
    assert response.headers == []


def test_a_base64_body_is_decoded() -> None:
    data = bytes(range(256))
    response = from_lambda_result(
        {
            "statusCode": 200,
            "isBase64Encoded": True,
            "body": base64.b64encode(data).decode(),
        }
    )
    assert response.body == data


def test_framing_headers_of_the_function_are_dropped() -> None:
    response = from_lambda_result(
        {
            "statusCode": 200,
            "headers": {"Content-Length": "999", "Connection": "close", "X-Kept": "yes"},
            "body": "four",
        }
    )
    assert response.headers == [("X-Kept", "yes")]


def test_a_string_status_code_and_a_missing_body_are_accepted() -> None:
    response = from_lambda_result({"statusCode": "204"})
    assert (response.status, response.body) == (204, b"")


@pytest.mark.parametrize(
    ("result", "body"),
    [
        ({"message": "hi"}, {"message": "hi"}),
        ([1, 2], [1, 2]),
        (5, 5),
        (True, True),
        (None, None),
    ],
)
def test_any_other_json_result_is_a_200_json_body(result: Any, body: Any) -> None:
    response = from_lambda_result(result)
    assert response.status == 200
    assert response.headers == [("content-type", "application/json")]
    assert json.loads(response.body) == body


def test_a_string_result_is_the_body_itself() -> None:
    # The developer guide's own example: "Hello from Lambda!" gives that body, as it is.
    response = from_lambda_result("Hello from Lambda!")
    assert (response.status, response.body) == (200, b"Hello from Lambda!")
    assert response.headers == [("content-type", "application/json")]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"statusCode": "abc"}, "statusCode must be an integer"),
        ({"statusCode": True}, "statusCode must be an integer"),
        ({"statusCode": 1000}, "statusCode 1000 is not an HTTP status"),
        ({"statusCode": 200, "headers": ["a"]}, "headers must be an object"),
        ({"statusCode": 200, "headers": {"X-Bad": "a\r\nInjected: 1"}}, "line break"),
        ({"statusCode": 200, "headers": {"Bad Name": "a"}}, "is not a header name"),
        ({"statusCode": 200, "headers": {"X-List": ["a"]}}, "must be a string"),
        ({"statusCode": 200, "cookies": "a=1"}, "cookies must be a list"),
        ({"statusCode": 200, "cookies": ["a=1\nb=2"]}, "line break"),
        ({"statusCode": 200, "isBase64Encoded": True, "body": "not base64!"}, "not base64"),
    ],
)
def test_results_api_gateway_cannot_use_are_refused(result: Any, message: str) -> None:
    with pytest.raises(InvalidLambdaResponse, match=message):
        from_lambda_result(result)


@pytest.mark.parametrize(
    ("response", "status", "message"),
    [
        (NOT_FOUND, 404, "Not Found"),
        (INTERNAL_SERVER_ERROR, 500, "Internal Server Error"),
        (SERVICE_UNAVAILABLE, 503, "Service Unavailable"),
        (REQUEST_TOO_LARGE, 413, "Request Entity Too Large"),
    ],
)
def test_api_gateway_errors_are_json_messages(response: Any, status: int, message: str) -> None:
    assert response.status == status
    assert response.body == json.dumps({"message": message}, separators=(",", ":")).encode()
    assert response.headers == [("content-type", "application/json")]
