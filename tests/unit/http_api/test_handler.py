"""The Lambda entry point: `events/http-*.json` (API Gateway HTTP API, payload format 2.0)
through the Handler string template.yaml names, as Lambda would call it.

The fixture events carry a placeholder token; each is sent as is (refused where a token is
needed) and with a fresh service token in its place.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.support import template
from tests.support.events import connection_id, http_event_names, load_event
from tests.support.management_api import received
from tests.support.stack import Stack, handler
from tests.unit.http_api.conftest import service_token

#: What each event is answered with a valid service token (status, and a check of the body).
EXPECTED: dict[str, int] = {
    "http-health": 200,
    "http-index": 200,
    "http-get-rooms": 200,
    "http-get-room-members": 200,
    "http-get-room-history": 200,
    "http-post-room-message": 200,
    "http-post-user-message": 200,
}
PUBLIC = {"http-health", "http-index"}
CONTEXT_FIELDS = {
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
U_42 = connection_id(42)


def http_handler(event: dict[str, Any]) -> Any:
    """The function template.yaml routes the event's routeKey to, by its Handler string."""
    function_id = template.http_routes()[event["routeKey"]]
    props = template.template()["Resources"][function_id]["Properties"]
    return handler(props["Handler"])


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = http_handler(event)(event, None)
    return response


def with_service_token(event: dict[str, Any]) -> dict[str, Any]:
    if "authorization" in event["headers"]:
        event["headers"]["authorization"] = f"Bearer {service_token()}"
    return event


# --------------------------------------------------------------------------- event shapes


def test_every_http_event_has_an_expectation() -> None:
    assert set(http_event_names()) == set(EXPECTED)


def test_every_route_but_the_docs_has_an_event() -> None:
    routed = {load_event(name)["routeKey"] for name in http_event_names()}
    assert routed == set(template.http_routes()) - {"GET /openapi.json", "GET /docs"}


@pytest.mark.parametrize("name", http_event_names())
def test_the_event_is_shaped_as_api_gateway_sends_it(name: str) -> None:
    event = load_event(name)
    context = event["requestContext"]
    assert event["version"] == "2.0"
    assert set(context) == CONTEXT_FIELDS
    method, route = event["routeKey"].split(" ", 1)
    assert context["routeKey"] == event["routeKey"]
    assert context["http"] == {
        "method": method,
        "path": event["rawPath"],
        "protocol": "HTTP/1.1",
        "sourceIp": event["headers"]["x-forwarded-for"],
        "userAgent": event["headers"]["user-agent"],
    }
    assert context["stage"] == "$default"
    assert context["domainName"] == f"{context['apiId']}.execute-api.us-east-1.amazonaws.com"
    assert context["domainPrefix"] == context["apiId"]
    assert event["headers"]["host"] == context["domainName"]
    assert all(header == header.lower() for header in event["headers"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{15}=", context["requestId"])
    requested = datetime.strptime(context["time"], "%d/%b/%Y:%H:%M:%S %z")
    assert context["timeEpoch"] // 1000 == int(requested.timestamp())
    trace = event["headers"]["x-amzn-trace-id"]
    assert trace.startswith(f"Root=1-{context['timeEpoch'] // 1000:08x}-")
    # The path, from the route with the path parameters put in.
    parameters = event.get("pathParameters", {})
    assert re.sub(r"\{(\w+)\}", lambda m: parameters[m.group(1)], route) == event["rawPath"]
    assert set(parameters) == set(re.findall(r"\{(\w+)\}", route))
    # Query strings only when there is one; bodies only on POST, never base64 for JSON.
    query = dict(parse_qsl(event["rawQueryString"]))
    assert event.get("queryStringParameters", {}) == query
    assert ("queryStringParameters" in event) == bool(query)
    assert ("body" in event) == (method == "POST")
    if method == "POST":
        assert event["headers"]["content-length"] == str(len(event["body"].encode()))
        assert event["headers"]["content-type"] == "application/json"
    assert event["isBase64Encoded"] is False
    assert ("authorization" in event["headers"]) == (name not in PUBLIC)


# --------------------------------------------------------------------- through the handler


@pytest.mark.usefixtures("table", "token_settings")
@pytest.mark.parametrize("name", sorted(set(EXPECTED) - PUBLIC))
def test_the_placeholder_token_is_refused(name: str) -> None:
    response = invoke(load_event(name))
    assert response["statusCode"] == 401
    assert json.loads(response["body"]) == {
        "error": "Unauthorized",
        "message": "invalid token: DecodeError: Not enough segments",
    }
    assert response["headers"]["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.usefixtures("token_settings")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_event_with_a_service_token(chat: Stack, name: str) -> None:
    chat.connect_as(U_42, "u-42", "ann")
    chat.send(U_42, {"action": "join", "room": "dev"})
    chat.send(U_42, {"action": "sendmessage", "data": "earlier"})
    response = invoke(with_service_token(load_event(name)))
    assert response["statusCode"] == EXPECTED[name], response
    assert response["isBase64Encoded"] is False
    assert response["headers"]["x-content-type-options"] == "nosniff"
    if name == "http-index":
        assert response["headers"]["content-type"] == "text/html; charset=utf-8"
        assert '<meta name="switchboard-websocket-url"' in response["body"]
        return
    body = json.loads(response["body"])
    if name == "http-health":
        assert body == {"status": "ok"}
    elif name == "http-get-rooms":
        assert body == {"rooms": ["dev", "lobby"]}
    elif name == "http-get-room-members":
        assert body == {
            "room": "lobby",
            "members": [{"name": "ann", "userId": "u-42", "connections": 1}],
        }
    elif name == "http-get-room-history":
        assert [m["data"] for m in body["messages"]] == ["earlier"]
    elif name == "http-post-room-message":
        assert body["delivered"] == 1
        [message] = received(U_42)[-1:]
        assert message["data"] == {"text": "deploy finished", "build": 42}
        assert message["from"] == {"name": "Billing", "userId": "svc-billing", "service": True}
    elif name == "http-post-user-message":
        assert (body["to"], body["delivered"]) == ("u-42", 1)
        assert received(U_42)[-1]["data"] == "your export is ready"
    else:  # pragma: no cover - EXPECTED lists every event
        pytest.fail(f"no check for {name}")


@pytest.mark.usefixtures("token_settings")
def test_a_percent_in_a_user_id_is_not_decoded_twice(chat: Stack) -> None:
    # The gateway decodes `/users/u%2541/messages` to `/users/u%41/messages` once; a second
    # decoding would make it `uA`, another user.
    literal, other = connection_id(1), connection_id(2)
    chat.connect_as(literal, "u%41", "percent")
    chat.connect_as(other, "uA", "a")
    event = with_service_token(load_event("http-post-user-message"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/users/u%41/messages"
    event["pathParameters"] = {"userId": "u%41"}

    response = invoke(event)

    assert response["statusCode"] == 200, response
    assert (json.loads(response["body"])["to"], json.loads(response["body"])["delivered"]) == (
        "u%41",
        1,
    )
    assert received(literal)[-1]["data"] == "your export is ready"
    assert not [m for m in received(other) if m.get("type") == "direct"]
