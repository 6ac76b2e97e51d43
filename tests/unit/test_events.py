"""The WebSocketEvent view, and the fixture events it is read from having API Gateway's shape."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from switchboard.events import WebSocketEvent
from tests.support.events import (
    event_names,
    http_event_names,
    load_event,
    websocket_event_names,
)

CONNECTION = "BFaT_fALIAMCKug="
COMMON_CONTEXT = {
    "routeKey",
    "eventType",
    "extendedRequestId",
    "requestTime",
    "messageDirection",
    "stage",
    "connectedAt",
    "requestTimeEpoch",
    "identity",
    "requestId",
    "domainName",
    "apiId",
    "connectionId",
}


def test_every_fixture_is_a_websocket_or_an_http_api_event() -> None:
    # HTTP API events (payload format 2.0) are named http-*; tests/unit/http_api checks them.
    assert http_event_names() == [name for name in event_names() if name.startswith("http-")]
    assert websocket_event_names() == [n for n in event_names() if not n.startswith("http-")]
    for name in websocket_event_names():
        assert load_event(name)["requestContext"]["eventType"] in {
            "CONNECT",
            "MESSAGE",
            "DISCONNECT",
        }


@pytest.mark.parametrize("name", websocket_event_names())
def test_fixture_has_every_request_context_field(name: str) -> None:
    event = load_event(name)
    ctx = event["requestContext"]
    missing = COMMON_CONTEXT - set(ctx)
    assert not missing, f"{name}.json lacks requestContext {sorted(missing)}"
    assert ctx["messageDirection"] == "IN"
    assert ctx["stage"] == "prod"
    assert ctx["connectionId"] == CONNECTION, "one connection, so the events replay in order"
    assert ctx["domainName"] == f"{ctx['apiId']}.execute-api.us-east-1.amazonaws.com"
    assert set(ctx["identity"]) == {"sourceIp", "userAgent"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", ctx["requestId"])
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize("name", websocket_event_names())
def test_fixture_times_are_milliseconds_and_agree_with_request_time(name: str) -> None:
    ctx = load_event(name)["requestContext"]
    requested = datetime.strptime(ctx["requestTime"], "%d/%b/%Y:%H:%M:%S %z")
    assert ctx["requestTimeEpoch"] // 1000 == int(requested.timestamp())
    assert 10**12 < ctx["connectedAt"] <= ctx["requestTimeEpoch"] < 10**13


@pytest.mark.parametrize(
    ("name", "event_type", "extra", "absent"),
    [
        (
            "connect",
            "CONNECT",
            {
                "headers",
                "multiValueHeaders",
                "queryStringParameters",
                "multiValueQueryStringParameters",
            },
            {"body"},
        ),
        ("disconnect", "DISCONNECT", {"headers", "multiValueHeaders"}, {"body"}),
        ("join", "MESSAGE", {"body"}, {"headers", "multiValueHeaders"}),
        ("leave", "MESSAGE", {"body"}, {"headers", "multiValueHeaders"}),
        ("sendmessage", "MESSAGE", {"body"}, {"headers", "multiValueHeaders"}),
        ("unknown-action", "MESSAGE", {"body"}, {"headers", "multiValueHeaders"}),
        ("invalid-json", "MESSAGE", {"body"}, {"headers", "multiValueHeaders"}),
    ],
)
def test_fixture_shape_per_event_type(
    name: str, event_type: str, extra: set[str], absent: set[str]
) -> None:
    event = load_event(name)
    assert event["requestContext"]["eventType"] == event_type
    assert extra <= set(event)
    assert not absent & set(event)
    assert ("messageId" in event["requestContext"]) == (event_type == "MESSAGE")


def test_connect_fixture_headers() -> None:
    event = load_event("connect")
    headers = event["headers"]
    assert {
        "Host",
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "X-Forwarded-For",
        "User-Agent",
    } <= set(headers)
    assert headers["Host"] == event["requestContext"]["domainName"]
    assert headers["Sec-WebSocket-Version"] == "13"
    assert event["multiValueHeaders"] == {k: [v] for k, v in headers.items()}
    assert event["queryStringParameters"] == {"name": "ada"}
    assert event["multiValueQueryStringParameters"] == {"name": ["ada"]}
    assert headers["User-Agent"] == event["requestContext"]["identity"]["userAgent"]


def test_disconnect_fixture_headers_and_close() -> None:
    event = load_event("disconnect")
    assert set(event["headers"]) == {"Host", "x-api-key", "X-Forwarded-For", "x-restapi"}
    assert event["multiValueHeaders"] == {k: [v] for k, v in event["headers"].items()}
    assert event["requestContext"]["disconnectStatusCode"] == 1001
    assert event["requestContext"]["disconnectReason"] == ""


def test_view_of_a_connect_event() -> None:
    view = WebSocketEvent(load_event("connect"))
    assert view.route_key == "$connect"
    assert view.event_type == "CONNECT"
    assert view.connection_id == CONNECTION
    assert view.request_id == "BFaT_fAIIAMFoVw="
    assert view.domain_name == "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
    assert view.stage == "prod"
    assert view.connected_at == 1795830432345
    assert view.request_time_epoch == 1795830432353
    assert view.source_ip == "198.51.100.23"
    assert view.user_agent is not None and view.user_agent.startswith("Mozilla/5.0")
    assert view.query_string_parameters == {"name": "ada"}
    assert view.headers["Sec-WebSocket-Version"] == "13"
    assert view.body is None
    assert view.is_base64_encoded is False
    assert view.authorizer == {}
    assert view.disconnect_status_code is None
    assert view.disconnect_reason is None
    assert view.management_endpoint() == (
        "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"
    )


def test_view_of_a_message_event() -> None:
    view = WebSocketEvent(load_event("sendmessage"))
    assert view.route_key == "sendmessage"
    assert view.event_type == "MESSAGE"
    assert view.body == '{"action": "sendmessage", "data": "hello, world"}'
    assert view.headers == {}
    assert view.query_string_parameters == {}


def test_view_of_a_disconnect_event() -> None:
    view = WebSocketEvent(load_event("disconnect"))
    assert view.disconnect_status_code == 1001
    assert view.disconnect_reason == ""


def test_view_of_optional_fields_when_absent() -> None:
    event: dict[str, Any] = {"requestContext": {"routeKey": "$default", "connectionId": "c"}}
    view = WebSocketEvent(event)
    assert view.request_id == ""
    assert view.connected_at == 0
    assert view.source_ip is None
    assert view.user_agent is None
    assert view.body is None


def test_view_connected_at_falls_back_to_request_time() -> None:
    view = WebSocketEvent({"requestContext": {"requestTimeEpoch": 1795830432353}})
    assert view.connected_at == 1795830432353


def test_view_authorizer_context() -> None:
    event = load_event("sendmessage")
    event["requestContext"]["authorizer"] = {"principalId": "user-1", "team": "blue"}
    assert WebSocketEvent(event).authorizer == {"principalId": "user-1", "team": "blue"}


def test_view_missing_required_field_raises_key_error() -> None:
    with pytest.raises(KeyError, match="connectionId"):
        _ = WebSocketEvent({"requestContext": {}}).connection_id


@pytest.mark.parametrize("name", ["connect", "sendmessage", "join", "disconnect"])
def test_api_gateways_events_have_no_problem(name: str) -> None:
    assert WebSocketEvent(load_event(name)).problem() is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda e: e.pop("requestContext"), "requestContext must be an object"),
        (lambda e: e.update(requestContext=[1]), "requestContext must be an object"),
        (
            lambda e: e["requestContext"].pop("routeKey"),
            "requestContext.routeKey must be a non-empty string",
        ),
        (
            lambda e: e["requestContext"].update(connectionId="x" * 129),
            "requestContext.connectionId must be 1-128 printable ASCII",
        ),
        (
            lambda e: e["requestContext"].update(connectionId="a b"),
            "requestContext.connectionId must be 1-128 printable ASCII",
        ),
        (
            lambda e: e["requestContext"].update(connectedAt="9" * 5000),
            "requestContext.connectedAt must be a whole number of milliseconds",
        ),
        (
            lambda e: e.update(queryStringParameters={"name": 1}),
            "queryStringParameters must map strings to strings",
        ),
        (lambda e: e.update(headers=["Host"]), "headers must map strings to strings"),
        (
            lambda e: e["requestContext"].update(identity="1.2.3.4"),
            "requestContext.identity must be an object",
        ),
        (lambda e: e.update(body={"action": "join"}), "body must be a string"),
    ],
)
def test_a_problem_names_the_field_api_gateway_always_sends_otherwise(
    change: Any, problem: str
) -> None:
    event = load_event("connect")
    change(event)
    view = WebSocketEvent(event)
    assert view.problem() == problem
    # Fields of the wrong type read as absent rather than raising.
    for value in (view.query_string_parameters, view.headers):
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    assert isinstance(view.connected_at, int) and view.connected_at < 10**20
    assert view.body is None or isinstance(view.body, str)
    assert view.source_ip in {None, "198.51.100.23"}
