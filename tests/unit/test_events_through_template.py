"""Every `events/*.json` through the function template.yaml routes it to.

The Handler strings come from the template (Route -> Integration -> Function -> Handler) and
are imported the way the Lambda runtime imports them; nothing here imports a handler module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from switchboard.protocol import ACTIONS
from tests.support import template
from tests.support.events import load_event, websocket_event_names
from tests.support.management_api import received
from tests.support.stack import reply, route_handler, select_route

CONNECTION = "BFaT_fALIAMCKug="
#: connect.json has no authorizer context: a guest, named by its `?name=ada`.
GUEST = {"userId": f"guest:{CONNECTION}", "guest": True}
Check = Callable[[dict[str, Any]], None]


def _no_body(response: dict[str, Any]) -> None:
    assert response == {"statusCode": 200}


def _joined(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200
    assert reply(response) == {
        "type": "joined",
        "room": "general",
        "name": "ada",
        "connectionId": CONNECTION,
        **GUEST,
        "messages": [],
        "next": None,
    }


def _left(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200
    assert reply(response) == {
        "type": "left",
        "room": "general",
        "name": "ada",
        "connectionId": CONNECTION,
        **GUEST,
    }


def _sent(response: dict[str, Any]) -> None:
    body = reply(response)
    assert response["statusCode"] == 200
    assert len(body.pop("id")) == 32
    assert body == {"type": "sent", "room": "lobby", "delivered": 0, "pruned": 0, "failed": 0}


def _rooms(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200
    assert reply(response) == {"type": "rooms", "rooms": ["general", "lobby"]}


def _history(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200
    assert reply(response) == {"type": "history", "room": "lobby", "messages": [], "next": None}


def _members(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 200
    assert reply(response) == {
        "type": "members",
        "room": "lobby",
        "members": [{"name": "ada", "userId": f"guest:{CONNECTION}", "connections": 1}],
    }


def _sendto_nobody(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 404
    assert reply(response) == {
        "type": "error",
        "error": "not_found",
        "message": 'user "auth0|66f2a1c0b7e3d94a1c2e5f10" is not connected',
    }


def _unknown_action(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 400
    assert reply(response) == {
        "type": "error",
        "error": "unknown_action",
        "message": "unknown action 'dance'",
        "actions": list(ACTIONS),
    }


def _invalid_json(response: dict[str, Any]) -> None:
    assert response["statusCode"] == 400
    assert reply(response) == {
        "type": "error",
        "error": "invalid_json",
        "message": "the message body is not valid JSON",
        "actions": list(ACTIONS),
    }


#: What each fixture event must produce when its connection is already connected (and has
#: sent the events of PRECEDED_BY); the lone connection's direct message finds nobody.
EXPECTED: dict[str, Check] = {
    "connect": _no_body,
    "join": _joined,
    "rooms": _rooms,
    "history": _history,
    "members": _members,
    "sendmessage": _sent,
    "sendto": _sendto_nobody,
    "leave": _left,
    "unknown-action": _unknown_action,
    "invalid-json": _invalid_json,
    "disconnect": _no_body,
}
PRECEDED_BY = {"leave": ["join"], "rooms": ["join"]}
#: The order a client produces them in: one connection's life.
LIFE = [
    "connect",
    "join",
    "rooms",
    "history",
    "members",
    "sendmessage",
    "sendto",
    "leave",
    "unknown-action",
    "invalid-json",
    "disconnect",
]


def run(name: str) -> dict[str, Any]:
    event = load_event(name)
    return route_handler(event["requestContext"]["routeKey"])(event, None)


def test_every_fixture_event_has_an_expectation() -> None:
    assert set(websocket_event_names()) == set(EXPECTED) == set(LIFE)


def test_the_template_routes_exactly_the_protocols_actions() -> None:
    assert template.route_keys() == {"$connect", "$disconnect", "$default", *ACTIONS}


def test_every_route_of_the_template_has_a_fixture_event() -> None:
    routed = {load_event(name)["requestContext"]["routeKey"] for name in websocket_event_names()}
    assert routed == template.route_keys()


@pytest.mark.usefixtures("table")
@pytest.mark.parametrize("name", [n for n in websocket_event_names() if n != "connect"])
def test_message_and_disconnect_events(name: str) -> None:
    assert run("connect") == {"statusCode": 200}
    for earlier in PRECEDED_BY.get(name, []):
        run(earlier)
    EXPECTED[name](run(name))
    assert received(CONNECTION) == [], "the caller's replies go back as route responses"


def test_connect_event(items: Callable[[], list[dict[str, Any]]]) -> None:
    EXPECTED["connect"](run("connect"))
    by_key = {(i["PK"]["S"], i["SK"]["S"]): i for i in items()}
    assert set(by_key) == {
        (f"CONN#{CONNECTION}", "META"),
        ("ROOM#lobby", f"CONN#{CONNECTION}"),
        (f"USER#guest:{CONNECTION}", f"CONN#{CONNECTION}"),
    }
    record = by_key[(f"CONN#{CONNECTION}", "META")]
    assert record["name"] == {"S": "ada"}
    assert record["userId"] == {"S": f"guest:{CONNECTION}"}
    assert record["sourceIp"] == {"S": "198.51.100.23"}
    assert record["userAgent"]["S"].startswith("Mozilla/5.0")
    assert record["connectedAt"] == {"N": "1795830432345"}


def test_one_connections_life_in_order_leaves_only_its_message_behind(
    keys: Callable[[], set[tuple[str, str]]],
) -> None:
    sent = ""
    for name in LIFE:
        response = run(name)
        EXPECTED[name](response)
        if name == "sendmessage":
            sent = reply(response)["id"]
    left = keys()
    # The room list's entry for the room joined, which expires on its own (room_index.py).
    left.remove(("ROOMS", "ROOM#general"))
    [(partition, sort_key)] = left
    assert partition == "MSG#lobby", "the room's history outlives the connection"
    assert re.fullmatch(rf"\d{{13}}#{sent}", sort_key)


@pytest.mark.parametrize("name", websocket_event_names())
def test_fixture_routes_agree_with_the_templates_route_selection(name: str) -> None:
    event = load_event(name)
    route = event["requestContext"]["routeKey"]
    if event["requestContext"]["eventType"] == "MESSAGE":
        assert select_route(event["body"]) == route
    else:
        assert (
            route
            == {"CONNECT": "$connect", "DISCONNECT": "$disconnect"}[
                event["requestContext"]["eventType"]
            ]
        )
