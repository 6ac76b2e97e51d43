"""POST /rooms/{room}/messages and POST /users/{userId}/messages: what each connection
receives (moto's @connections), what the caller is answered, what is kept; bad input is
refused with its status and message, and nothing is delivered or stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from switchboard import runtime
from switchboard.http_api.body_limit import MAX_BODY_BYTES
from switchboard.protocol import MAX_NESTING, MAX_POST_BYTES, MAX_ROOM_MESSAGE_BYTES
from tests.support import management_api
from tests.support.events import connection_id
from tests.support.management_api import ManagementFaults, received, recipients
from tests.support.stack import Stack
from tests.unit.http_api.conftest import SERVICE

Keys = Callable[[], set[tuple[str, str]]]
ADA_1, ADA_2, BOB, CY = (connection_id(n) for n in (1, 2, 3, 4))
#: How the billing service appears in `from` of everything it sends.
FROM_SERVICE = {"name": "Billing", "userId": SERVICE, "service": True}


@pytest.fixture
def members(chat: Stack) -> Stack:
    """u-ada on two connections, bob a guest: all in the lobby; ada_1 and cy in private:ops."""
    chat.connect_as(ADA_1, "u-ada", "ada", rooms=["private:ops"])
    chat.connect_as(ADA_2, "u-ada", "ada")
    chat.connect(BOB, name="bob")
    chat.connect_as(CY, "u-cy", "cy", rooms=["private:ops"])
    for cid in (ADA_1, CY):
        assert chat.send(cid, {"action": "join", "room": "private:ops"})["type"] == "joined"
    management_api.clear()
    return chat


def post(client: TestClient, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.post(path, json=body, headers=headers)


# ----------------------------------------------------------------------------- to a room


def test_a_room_message_reaches_every_member_as_from_the_service(
    client: TestClient, service: dict[str, str], members: Stack
) -> None:
    data = {"text": "deploy finished", "build": 42, "ok": True, "tags": ["a", None]}
    response = post(client, "/rooms/lobby/messages", {"data": data}, service)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", answer["id"])
    assert answer == {
        "id": answer["id"],
        "room": "lobby",
        "ts": answer["ts"],
        "delivered": 4,
        "pruned": 0,
        "failed": 0,
        "stored": True,
    }
    expected = {
        "type": "message",
        "room": "lobby",
        "from": FROM_SERVICE,
        "data": data,
        "id": answer["id"],
        "ts": answer["ts"],
    }
    for cid in (ADA_1, ADA_2, BOB, CY):
        assert received(cid) == [expected]
    # Members read it back from the room's history exactly as it was delivered.
    history = members.send(BOB, {"action": "history", "room": "lobby"})
    assert history["messages"] == [expected]


def test_only_the_rooms_members_receive_it(
    client: TestClient, service: dict[str, str], members: Stack
) -> None:
    response = post(client, "/rooms/private:ops/messages", {"data": "ops only"}, service)
    assert response.status_code == 200, response.text
    assert response.json()["delivered"] == 2
    assert recipients() == {ADA_1, CY}, "a service may post to a private room"


@pytest.mark.parametrize("data", [None, 0, -1.5, "", "héllo ✓", [], {}, False, [[["deep"]]]])
def test_any_json_value_is_delivered_as_sent(
    client: TestClient, service: dict[str, str], members: Stack, data: Any
) -> None:
    response = post(client, "/rooms/lobby/messages", {"data": data}, service)
    assert response.status_code == 200, response.text
    [message] = received(BOB)
    assert message["data"] == data
    assert type(message["data"]) is type(data)


def test_a_room_nobody_is_in_gets_it_in_its_history_only(
    client: TestClient, service: dict[str, str], members: Stack, keys: Keys
) -> None:
    response = post(client, "/rooms/empty-room/messages", {"data": "anyone?"}, service)
    assert response.status_code == 200
    assert (response.json()["delivered"], response.json()["stored"]) == (0, True)
    assert recipients() == set()
    assert {k for k in keys() if k[0] == "MSG#empty-room"} == {
        ("MSG#empty-room", f"{response.json()['ts']:013d}#{response.json()['id']}")
    }


def test_stale_and_unreachable_members_are_counted(
    client: TestClient,
    service: dict[str, str],
    members: Stack,
    faults: ManagementFaults,
    keys: Keys,
) -> None:
    faults.fail(BOB, management_api.gone)
    faults.fail(CY, management_api.forbidden)
    response = post(client, "/rooms/lobby/messages", {"data": "x"}, service)
    answer = response.json()
    assert (answer["delivered"], answer["pruned"], answer["failed"]) == (2, 1, 1)
    assert {k for k in keys() if BOB in k[0] or BOB in k[1]} == {(f"CONN#{BOB}", "DEPARTED")}, (
        "bob's records are pruned (a note is kept for his $disconnect)"
    )
    assert (f"CONN#{CY}", "META") in keys(), "a 403 is no reason to forget cy"


def test_with_history_off_it_is_delivered_not_kept(
    client: TestClient,
    service: dict[str, str],
    members: Stack,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "0")
    runtime.reset()
    before = keys()
    response = post(client, "/rooms/lobby/messages", {"data": "x"}, service)
    assert (response.json()["delivered"], response.json()["stored"]) == (4, False)
    assert keys() == before


# ------------------------------------------------------------------------------ to a user


def test_a_direct_message_reaches_every_connection_of_the_user(
    client: TestClient, service: dict[str, str], members: Stack, keys: Keys
) -> None:
    before = keys()
    response = post(client, "/users/u-ada/messages", {"data": {"invoice": 7}}, service)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == {
        "id": answer["id"],
        "to": "u-ada",
        "ts": answer["ts"],
        "delivered": 2,
        "pruned": 0,
        "failed": 0,
    }
    expected = {
        "type": "direct",
        "from": FROM_SERVICE,
        "to": "u-ada",
        "data": {"invoice": 7},
        "id": answer["id"],
        "ts": answer["ts"],
    }
    assert received(ADA_1) == [expected]
    assert received(ADA_2) == [expected]
    assert recipients() == {ADA_1, ADA_2}
    assert keys() == before, "direct messages are not kept"


def test_a_user_id_with_any_printable_characters(
    client: TestClient, service: dict[str, str], chat: Stack
) -> None:
    chat.connect_as(ADA_1, "auth0|66f2 ü", "ada")
    response = post(client, "/users/auth0%7C66f2%20%C3%BC/messages", {"data": 1}, service)
    assert response.status_code == 200, response.text
    assert response.json()["to"] == "auth0|66f2 ü"
    assert recipients() == {ADA_1}


def test_a_user_without_connections_404(
    client: TestClient, service: dict[str, str], members: Stack
) -> None:
    response = post(client, "/users/u-nobody/messages", {"data": "x"}, service)
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "message": 'user "u-nobody" is not connected'}
    assert recipients() == set()


def test_a_stale_connection_of_the_user_is_pruned(
    client: TestClient, service: dict[str, str], members: Stack, faults: ManagementFaults
) -> None:
    faults.fail(ADA_2, management_api.gone)
    answer = post(client, "/users/u-ada/messages", {"data": "x"}, service).json()
    assert (answer["delivered"], answer["pruned"]) == (1, 1)
    # Now only one connection is left to send to.
    answer = post(client, "/users/u-ada/messages", {"data": "y"}, service).json()
    assert (answer["delivered"], answer["pruned"]) == (1, 0)


# ------------------------------------------------------------------------------ bad input

TOO_LARGE = "x" * MAX_POST_BYTES


@pytest.mark.parametrize("path", ["/rooms/lobby/messages", "/users/u-ada/messages"])
def test_a_message_too_large_for_one_post_413(
    client: TestClient, service: dict[str, str], members: Stack, keys: Keys, path: str
) -> None:
    before = keys()
    response = post(client, path, {"data": TOO_LARGE}, service)
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "PayloadTooLarge"
    # A room message is also kept in history: its limit leaves room for a page's envelope.
    limit = (
        f"{MAX_ROOM_MESSAGE_BYTES} \\(a room message must also fit a history page\\)"
        if path.startswith("/rooms/")
        else str(MAX_POST_BYTES)
    )
    size = re.fullmatch(
        rf'"data" is too large: the message would be (\d+) bytes, the limit is {limit}',
        body["message"],
    )
    assert size is not None, body
    assert int(size.group(1)) > MAX_POST_BYTES
    assert recipients() == set()
    assert keys() == before


def test_the_largest_deliverable_message_is_delivered(
    client: TestClient, service: dict[str, str], members: Stack
) -> None:
    probe = post(client, "/rooms/lobby/messages", {"data": ""}, service).json()
    envelope = len(json.dumps(received(BOB)[0], separators=(",", ":")).encode())
    # The id and ts have fixed widths, so the envelope around "data" does not change.
    data = "x" * (MAX_ROOM_MESSAGE_BYTES - envelope)
    management_api.clear()
    response = post(client, "/rooms/lobby/messages", {"data": data}, service)
    assert response.status_code == 200, response.text
    assert received(BOB)[0]["data"] == data
    too_big = post(client, "/rooms/lobby/messages", {"data": data + "x"}, service)
    assert too_big.status_code == 413
    assert probe["delivered"] == 4
    # The history page that carries it is still one WebSocket message.
    page = client.get("/rooms/lobby/history?limit=100", headers=service)
    assert page.status_code == 200, page.text
    assert page.json()["messages"][-1]["data"] == data
    assert len(json.dumps(page.json(), separators=(",", ":")).encode()) <= MAX_POST_BYTES


def test_a_body_over_the_limit_is_refused_unread(
    client: TestClient, service: dict[str, str], members: Stack
) -> None:
    body = b'{"data": "' + b"x" * MAX_BODY_BYTES + b'"}'
    headers = {**service, "Content-Type": "application/json"}
    response = client.post("/rooms/lobby/messages", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json() == {
        "error": "PayloadTooLarge",
        "message": f"the request body is over {MAX_BODY_BYTES} bytes; a message must fit one "
        "@connections POST (128 KB)",
    }

    def chunks() -> Iterator[bytes]:
        # Streamed without a Content-Length: counted as it arrives.
        yield b'{"data": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    response = client.post("/rooms/lobby/messages", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert recipients() == set()


def test_a_streamed_body_under_the_limit_is_read_whole(
    client: TestClient, service: dict[str, str], members: Stack
) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"da'
        yield b'ta": "in pieces"}'

    headers = {**service, "Content-Type": "application/json"}
    response = client.post("/users/u-ada/messages", content=chunks(), headers=headers)
    assert response.status_code == 200, response.text
    assert received(ADA_1)[0]["data"] == "in pieces"


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("no data", b"{}", "body.data: Field required"),
    ("another field", b'{"data": 1, "room": "dev"}', "body.room: Extra inputs are not permitted"),
    ("not JSON", b"{data: 1}", "body.1: JSON decode error"),
    ("an array", b'[{"data": 1}]', "body: Input should be a valid dictionary"),
    ("NaN", b'{"data": NaN}', "body: Value error, NaN and Infinity are not JSON numbers"),
    ("Infinity", b'{"data": [1, -Infinity]}', "body: Value error, NaN and Infinity"),
    (
        "too deep",
        json.dumps({"data": nested(MAX_NESTING)}).encode(),
        f"body: Value error, the message is nested too deeply: at most {MAX_NESTING} levels",
    ),
    ("empty", b"", "body: Field required"),
]


@pytest.mark.parametrize(
    ("body", "problem"),
    [pytest.param(body, problem, id=name) for name, body, problem in BAD_BODIES],
)
@pytest.mark.parametrize("path", ["/rooms/lobby/messages", "/users/u-ada/messages"])
def test_a_bad_body_422(
    client: TestClient,
    service: dict[str, str],
    members: Stack,
    keys: Keys,
    path: str,
    body: bytes,
    problem: str,
) -> None:
    before = keys()
    headers = {**service, "Content-Type": "application/json"}
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"] == "ValidationError"
    assert answer["message"].startswith(f"invalid request: {problem}"), answer["message"]
    assert answer["details"], "422 says where each problem is"
    assert recipients() == set()
    assert keys() == before


def test_the_deepest_allowed_message_is_delivered(
    client: TestClient, service: dict[str, str], members: Stack
) -> None:
    # The body object is the first level, as the WebSocket message object is.
    data = nested(MAX_NESTING - 1)
    response = post(client, "/rooms/lobby/messages", {"data": data}, service)
    assert response.status_code == 200, response.text
    assert received(BOB)[0]["data"] == data


def test_a_lone_surrogate_422(
    client: TestClient, service: dict[str, str], members: Stack, keys: Keys
) -> None:
    before = keys()
    headers = {**service, "Content-Type": "application/json"}
    response = client.post("/rooms/lobby/messages", content=b'{"data": "\\ud800"}', headers=headers)
    assert response.status_code == 422
    assert response.json()["message"].startswith('"data" holds a lone surrogate')
    assert keys() == before
    assert recipients() == set()


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/rooms/no%20spaces/messages", "path.room"),
        ("/rooms/%C3%BCber/messages", "path.room"),
        ("/rooms/" + "r" * 65 + "/messages", "path.room"),
        ("/users/" + "u" * 129 + "/messages", "path.userId"),
    ],
)
def test_a_bad_room_or_user_id_422(
    client: TestClient, service: dict[str, str], path: str, where: str
) -> None:
    response = post(client, path, {"data": 1}, service)
    assert response.status_code == 422
    assert response.json()["message"].startswith(f"invalid request: {where}: ")
    assert recipients() == set()


def test_a_user_id_with_control_characters_422(client: TestClient, service: dict[str, str]) -> None:
    response = post(client, "/users/u%07bell/messages", {"data": 1}, service)
    assert response.status_code == 422
    message = "userId must be 1-128 printable characters"
    assert response.json() == {
        "error": "ValidationError",
        "message": message,
        "details": [{"loc": [], "msg": message, "type": "value_error"}],
    }


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_says_so(
    client: TestClient, service: dict[str, str], content_type: str | None
) -> None:
    # As `curl -d` sends it: the JSON text is right, the media type is not.
    headers = dict(service) | ({"Content-Type": content_type} if content_type else {})
    response = client.post("/rooms/lobby/messages", content=b'{"data": 1}', headers=headers)
    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith("invalid request: body: send it as JSON, with Content-Type: ")
    assert f"(got {content_type or 'none'})" in message
    assert recipients() == set()
