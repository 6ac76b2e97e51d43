"""GET /rooms, /rooms/{room}/members and /rooms/{room}/history, against rooms the WebSocket
functions filled: the HTTP API answers what the WebSocket actions would.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from switchboard.history import encode_cursor
from tests.support.events import connection_id
from tests.support.stack import Stack

ADA_1, ADA_2, BOB, CY = (connection_id(n) for n in (1, 2, 3, 4))


@pytest.fixture
def rooms(chat: Stack) -> Stack:
    """u-ada twice and cy in dev; ada_1 and cy in private:ops; bob a guest in the lobby only."""
    chat.connect_as(ADA_1, "u-ada", "ada", rooms=["private:ops"])
    chat.connect_as(ADA_2, "u-ada", "ada")
    chat.connect(BOB, name="bob")
    chat.connect_as(CY, "u-cy", "cy", rooms=["private:ops"])
    for cid, room in ((ADA_1, "dev"), (ADA_2, "dev"), (CY, "dev")):
        assert chat.send(cid, {"action": "join", "room": room})["type"] == "joined"
    for cid in (ADA_1, CY):
        assert chat.send(cid, {"action": "join", "room": "private:ops"})["type"] == "joined"
    return chat


def get(client: TestClient, path: str, headers: dict[str, str]) -> object:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------------------- rooms


def test_rooms_with_members_private_ones_included(
    client: TestClient, service: dict[str, str], rooms: Stack
) -> None:
    assert get(client, "/rooms", service) == {"rooms": ["dev", "lobby", "private:ops"]}


def test_a_room_everyone_left_is_not_listed(
    client: TestClient, service: dict[str, str], rooms: Stack
) -> None:
    for cid in (ADA_1, ADA_2):
        rooms.send(cid, {"action": "leave", "room": "dev"})
    assert get(client, "/rooms", service) == {"rooms": ["dev", "lobby", "private:ops"]}
    rooms.disconnect(CY)  # cy was the last in dev
    assert get(client, "/rooms", service) == {"rooms": ["lobby", "private:ops"]}
    # ada_1 is still in private:ops; joining dev again lists it again.
    rooms.send(ADA_2, {"action": "join", "room": "dev"})
    assert get(client, "/rooms", service) == {"rooms": ["dev", "lobby", "private:ops"]}


def test_no_connections_no_rooms(client: TestClient, service: dict[str, str], chat: Stack) -> None:
    assert get(client, "/rooms", service) == {"rooms": []}
    chat.connect(BOB, name="bob")
    assert get(client, "/rooms", service) == {"rooms": ["lobby"]}, "joined at $connect"
    chat.send(BOB, {"action": "leave", "room": "lobby"})
    assert get(client, "/rooms", service) == {"rooms": []}


# -------------------------------------------------------------------------------- members


def test_members_one_entry_per_user_with_their_connections(
    client: TestClient, service: dict[str, str], rooms: Stack
) -> None:
    assert get(client, "/rooms/dev/members", service) == {
        "room": "dev",
        "members": [
            {"name": "ada", "userId": "u-ada", "connections": 2},
            {"name": "cy", "userId": "u-cy", "connections": 1},
        ],
    }
    assert get(client, "/rooms/lobby/members", service) == {
        "room": "lobby",
        "members": [
            {"name": "ada", "userId": "u-ada", "connections": 2},
            {"name": "bob", "userId": f"guest:{BOB}", "connections": 1},
            {"name": "cy", "userId": "u-cy", "connections": 1},
        ],
    }


def test_members_are_what_the_websocket_action_answers(
    client: TestClient, service: dict[str, str], rooms: Stack
) -> None:
    over_websocket = rooms.send(CY, {"action": "members", "room": "private:ops"})
    over_http = get(client, "/rooms/private:ops/members", service)
    assert over_http == {"room": "private:ops", "members": over_websocket["members"]}


def test_a_room_nobody_is_in_has_no_members(
    client: TestClient, service: dict[str, str], rooms: Stack
) -> None:
    assert get(client, "/rooms/nobody-here/members", service) == {
        "room": "nobody-here",
        "members": [],
    }


# -------------------------------------------------------------------------------- history


def test_history_pages_back_oldest_first(
    client: TestClient, service: dict[str, str], rooms: Stack
) -> None:
    sent = [
        rooms.send(ADA_1, {"action": "sendmessage", "room": "dev", "data": n}) for n in range(5)
    ]
    pushed = client.post("/rooms/dev/messages", json={"data": "from billing"}, headers=service)
    first = get(client, "/rooms/dev/history?limit=4", service)
    assert isinstance(first, dict)
    assert [m["data"] for m in first["messages"]] == [2, 3, 4, "from billing"]
    assert first["messages"][0] == {
        "type": "message",
        "room": "dev",
        "from": {"connectionId": ADA_1, "name": "ada", "userId": "u-ada"},
        "data": 2,
        "id": sent[2]["id"],
        "ts": first["messages"][0]["ts"],
    }
    assert first["messages"][-1]["from"] == {
        "name": "Billing",
        "userId": "svc-billing",
        "service": True,
    }
    assert first["messages"][-1]["id"] == pushed.json()["id"]
    second = get(client, f"/rooms/dev/history?limit=4&before={first['next']}", service)
    assert isinstance(second, dict)
    assert [m["data"] for m in second["messages"]] == [0, 1]
    assert second["next"] is None


def test_history_is_what_the_websocket_action_answers(
    client: TestClient, service: dict[str, str], rooms: Stack
) -> None:
    rooms.send(BOB, {"action": "sendmessage", "data": {"guest": "hi"}})
    client.post("/rooms/lobby/messages", json={"data": None}, headers=service)
    over_websocket = rooms.send(BOB, {"action": "history", "room": "lobby", "limit": 10})
    over_http = get(client, "/rooms/lobby/history?limit=10", service)
    assert over_http == {
        "room": "lobby",
        "messages": over_websocket["messages"],
        "next": over_websocket["next"],
    }
    assert [m["data"] for m in over_websocket["messages"]] == [{"guest": "hi"}, None]


def test_a_room_without_messages_has_an_empty_history(
    client: TestClient, service: dict[str, str], rooms: Stack
) -> None:
    assert get(client, "/rooms/never-used/history", service) == {
        "room": "never-used",
        "messages": [],
        "next": None,
    }


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("limit=0", "query.limit: Input should be greater than or equal to 1"),
        ("limit=101", "query.limit: Input should be less than or equal to 100"),
        ("limit=ten", "query.limit: Input should be a valid integer"),
        ("before=", "query.before: String should have at least 1 character"),
        ("before=not-a-cursor", '"before" is not a valid history cursor'),
        (
            f"before={encode_cursor('lobby', '1795830440502#' + 'a' * 32)}",
            "is not a history cursor",
        ),
    ],
)
def test_bad_history_queries_422(
    client: TestClient, service: dict[str, str], rooms: Stack, query: str, problem: str
) -> None:
    response = client.get(f"/rooms/dev/history?{query}", headers=service)
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"
    assert problem in response.json()["message"]


def test_a_cursor_of_another_room_422(
    client: TestClient, service: dict[str, str], rooms: Stack
) -> None:
    for n in range(3):
        rooms.send(ADA_1, {"action": "sendmessage", "room": "dev", "data": n})
    page = get(client, "/rooms/dev/history?limit=1", service)
    assert isinstance(page, dict)
    response = client.get(f"/rooms/lobby/history?before={page['next']}", headers=service)
    assert response.status_code == 422
    message = '"before" is not a history cursor of room "lobby"'
    assert response.json() == {
        "error": "ValidationError",
        "message": message,
        "details": [{"loc": [], "msg": message, "type": "value_error"}],
    }


@pytest.mark.parametrize("path", ["/rooms/bad room/members", "/rooms/bad room/history"])
def test_a_bad_room_name_422(client: TestClient, service: dict[str, str], path: str) -> None:
    response = client.get(path, headers=service)
    assert response.status_code == 422
    assert response.json()["message"].startswith("invalid request: path.room: String should")
