"""Payload 2.0 events of the local HTTP API, field by field against the documented format."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Sequence
from typing import Any

import pytest

from switchboard.local.http_api_events import (
    HttpApiRequest,
    encoded_body,
    http_api_event,
    is_text,
)

REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")
TIME = re.compile(r"^\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000$")
TRACE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$")


def event_for(
    *,
    method: str = "GET",
    path: str = "/rooms/lobby/messages",
    query: str = "",
    headers: Sequence[tuple[str, str]] = (("Host", "127.0.0.1:3000"),),
    body: bytes = b"",
    route_key: str = "GET /rooms/{room}/messages",
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    request = HttpApiRequest(
        method=method,
        path=path,
        raw_query_string=query,
        headers=headers,
        body=body,
        protocol="HTTP/1.1",
        source_ip="127.0.0.7",
        server_port=3000,
    )
    return http_api_event(
        request,
        route_key=route_key,
        path_parameters={"room": "lobby"} if path_parameters is None else path_parameters,
        stage="$default",
    )


def test_a_request_becomes_the_documented_shape() -> None:
    before = int(time.time() * 1000)
    event = event_for(headers=[("Host", "127.0.0.1:3000"), ("User-Agent", "curl/8.5.0")])
    after = int(time.time() * 1000)
    context = event["requestContext"]
    assert set(event) == {
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "headers",
        "requestContext",
        "pathParameters",
        "isBase64Encoded",
    }
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == (
        "2.0",
        "GET /rooms/{room}/messages",
        "/rooms/lobby/messages",
        "",
    )
    assert event["pathParameters"] == {"room": "lobby"}
    assert event["isBase64Encoded"] is False
    assert set(context) == {
        "accountId",
        "apiId",
        "domainName",
        "domainPrefix",
        "http",
        "requestId",
        "routeKey",
        "stage",
        "time",
        "timeEpoch",
    }
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == "localhttp"
    assert (context["domainName"], context["domainPrefix"]) == ("127.0.0.1:3000", "127")
    assert context["http"] == {
        "method": "GET",
        "path": "/rooms/lobby/messages",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.7",
        "userAgent": "curl/8.5.0",
    }
    assert REQUEST_ID.match(context["requestId"])
    assert (context["routeKey"], context["stage"]) == ("GET /rooms/{room}/messages", "$default")
    assert TIME.match(context["time"])
    assert before <= context["timeEpoch"] <= after
    assert (
        time.strftime("%d/%b/%Y:%H:%M", time.gmtime(context["timeEpoch"] / 1000))
        in (context["time"])
    )


def test_headers_are_lower_cased_and_repeated_ones_joined_with_commas() -> None:
    event = event_for(
        headers=[
            ("Host", "api.example:3000"),
            ("X-Multi", "a"),
            ("x-multi", "b"),
            ("X-Multi", "c, d"),
            ("Connection", "keep-alive"),
            ("Transfer-Encoding", "chunked"),
        ],
        body=b"{}",
    )
    headers = event["headers"]
    assert headers["x-multi"] == "a,b,c, d"
    assert headers["host"] == "api.example:3000"
    assert all(name == name.lower() for name in headers)
    # Added as API Gateway adds them; hop-by-hop headers are not passed on.
    assert headers["content-length"] == "2"
    assert headers["x-forwarded-for"] == "127.0.0.7"
    assert (headers["x-forwarded-port"], headers["x-forwarded-proto"]) == ("3000", "http")
    assert TRACE.match(headers["x-amzn-trace-id"])
    assert "connection" not in headers and "transfer-encoding" not in headers


def test_a_client_forwarded_for_chain_gets_the_client_address_appended() -> None:
    event = event_for(headers=[("Host", "h"), ("X-Forwarded-For", "203.0.113.9")])
    assert event["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.7"


def test_cookies_move_from_the_cookie_headers_into_a_list() -> None:
    event = event_for(headers=[("Host", "h"), ("Cookie", "a=1; b=2"), ("cookie", "c=3")])
    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]
    assert "cookies" not in event_for()


def test_query_parameters_are_decoded_and_repeated_ones_joined() -> None:
    event = event_for(query="a=1&a=2&b=&name=caf%C3%A9+au+lait&plus=%2B")
    assert event["rawQueryString"] == "a=1&a=2&b=&name=caf%C3%A9+au+lait&plus=%2B"
    assert event["queryStringParameters"] == {
        "a": "1,2",
        "b": "",
        "name": "caf\u00e9 au lait",
        "plus": "+",
    }
    assert "queryStringParameters" not in event_for(query="")


def test_path_parameters_are_absent_without_variables() -> None:
    event = event_for(path="/health", route_key="GET /health", path_parameters={})
    assert "pathParameters" not in event


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "text/plain",
        "text/html; charset=utf-8",
        "application/xml",
        "application/javascript",
    ],
)
def test_textual_bodies_arrive_as_text(content_type: str) -> None:
    event = event_for(method="POST", headers=[("Content-Type", content_type)], body=b'{"a": 1}')
    assert (event["body"], event["isBase64Encoded"]) == ('{"a": 1}', False)
    assert is_text(content_type)


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/octet-stream",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "image/png",
        "application/vnd.api+json",
    ],
)
def test_other_bodies_arrive_base64_encoded(content_type: str | None) -> None:
    headers = [("Content-Type", content_type)] if content_type else []
    data = b"\x00\xff binary \x89PNG"
    event = event_for(method="POST", headers=headers, body=data)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data


def test_a_textual_content_type_with_bytes_that_are_not_utf8_loses_nothing() -> None:
    assert encoded_body(b"\xff\xfe", "text/plain") == ("//4=", True)


def test_an_empty_body_is_absent() -> None:
    event = event_for(method="POST", headers=[("Content-Type", "application/json")], body=b"")
    assert "body" not in event
    assert event["isBase64Encoded"] is False
    assert event["headers"]["content-length"] == "0"
