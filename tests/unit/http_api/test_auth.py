"""Who may call what: every endpoint with a valid service token, none, a forged, an expired,
a user's (no service role) and every bad token the authorizer refuses; public endpoints
with and without one. A refused push delivers nothing and stores nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from switchboard.tokens import LEEWAY_SECONDS
from tests.support.events import connection_id
from tests.support.jwks import jwks_server, rsa_key
from tests.support.management_api import recipients
from tests.support.stack import Stack
from tests.support.tokens import BAD_HS256_TOKENS, OTHER_SECRET, hs256, payload
from tests.unit.http_api.conftest import SERVICE, bearer, service_token

Keys = Callable[[], set[tuple[str, str]]]
ADA = connection_id(1)

#: Every endpoint that needs a service token: method, path, JSON body, status when allowed.
PROTECTED: list[tuple[str, str, Any, int]] = [
    ("POST", "/rooms/lobby/messages", {"data": "hello"}, 200),
    ("POST", "/users/u-ada/messages", {"data": "hello"}, 200),
    ("GET", "/rooms", None, 200),
    ("GET", "/rooms/lobby/members", None, 200),
    ("GET", "/rooms/lobby/history", None, 200),
]
PUBLIC = ["/", "/health", "/openapi.json", "/docs"]
MISSING = "missing bearer token: send 'Authorization: Bearer <token>' with a service token"


def protected_ids() -> list[str]:
    return [f"{method} {path}" for method, path, _, _ in PROTECTED]


@pytest.fixture(autouse=True)
def ada_is_connected(chat: Stack) -> None:
    """u-ada in the lobby, so that every protected endpoint has something to answer."""
    chat.connect_as(ADA, "u-ada", "ada")


def call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


def expired() -> str:
    return service_token(exp=int(time.time()) - LEEWAY_SECONDS - 60)


def forged() -> str:
    return hs256(payload(sub=SERVICE, roles=["service"]), OTHER_SECRET)


def users_token() -> str:
    """A valid token of the stack, a user's: it may chat, but not push as a backend."""
    return hs256(payload(sub="u-ada", name="ada"))


@pytest.mark.parametrize(("method", "path", "body", "allowed"), PROTECTED, ids=protected_ids())
def test_a_service_token_is_let_through(
    client: TestClient, method: str, path: str, body: Any, allowed: int
) -> None:
    response = call(client, method, path, body, bearer(service_token()))
    assert response.status_code == allowed, response.text


@pytest.mark.parametrize(("method", "path", "body", "allowed"), PROTECTED, ids=protected_ids())
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no_header"),
        pytest.param({"Authorization": "Basic c3ZjOnB3"}, id="basic_scheme"),
        pytest.param({"Authorization": "Bearer"}, id="bearer_without_token"),
        pytest.param({"Authorization": service_token()}, id="token_without_scheme"),
    ],
)
def test_without_a_bearer_token_401(
    client: TestClient,
    keys: Keys,
    method: str,
    path: str,
    body: Any,
    allowed: int,
    headers: dict[str, str],
) -> None:
    before = keys()
    response = call(client, method, path, body, headers)
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "message": MISSING}
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/json"
    assert recipients() == set()
    assert keys() == before


@pytest.mark.parametrize(("method", "path", "body", "allowed"), PROTECTED, ids=protected_ids())
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(forged, "InvalidSignatureError: Signature verification failed", id="forged"),
        pytest.param(expired, "ExpiredSignatureError: Signature has expired", id="expired"),
    ],
)
def test_a_forged_or_expired_token_401(
    client: TestClient,
    keys: Keys,
    method: str,
    path: str,
    body: Any,
    allowed: int,
    make: Callable[[], str],
    reason: str,
) -> None:
    before = keys()
    response = call(client, method, path, body, bearer(make()))
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "message": f"invalid token: {reason}"}
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert recipients() == set()
    assert keys() == before


@pytest.mark.parametrize(("method", "path", "body", "allowed"), PROTECTED, ids=protected_ids())
def test_a_users_token_without_the_service_role_403(
    client: TestClient, keys: Keys, method: str, path: str, body: Any, allowed: int
) -> None:
    before = keys()
    response = call(client, method, path, body, bearer(users_token()))
    assert response.status_code == 403
    assert response.json() == {
        "error": "Forbidden",
        "message": 'the token of "u-ada" lacks the "service" role',
    }
    assert recipients() == set()
    assert keys() == before


@pytest.mark.parametrize("name", sorted(BAD_HS256_TOKENS))
def test_every_token_the_authorizer_refuses_is_refused_here(client: TestClient, name: str) -> None:
    token = BAD_HS256_TOKENS[name]()
    # As bytes: httpx would refuse the non-ASCII one, which a raw client can still send.
    headers = {"Authorization": f"Bearer {token}".encode()}
    response = client.post("/rooms/lobby/messages", json={"data": 1}, headers=headers)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "Unauthorized"
    assert response.json()["message"].startswith("invalid token: ")
    assert token not in response.text
    assert recipients() == set()


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"roles": ["service"]}, 200),
        ({"roles": "reader service"}, 200),
        ({"roles": ["admin", "service"]}, 200),
        ({"cognito:groups": ["service"]}, 200),
        ({"roles": ["Service"]}, 403),
        ({"roles": []}, 403),
        ({}, 403),
        ({"cognito:groups": ["private:ops"]}, 403),
        ({"roles": {"service": True}}, 401),
    ],
)
def test_the_service_role_claim(client: TestClient, claims: dict[str, Any], status: int) -> None:
    token = hs256(payload(sub=SERVICE, **claims))
    response = client.get("/rooms", headers=bearer(token))
    assert response.status_code == status, response.text


@pytest.mark.parametrize("path", PUBLIC)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no_token"),
        pytest.param(bearer("garbage"), id="garbage_token"),
        pytest.param(bearer(users_token()), id="users_token"),
    ],
)
def test_public_endpoints_need_no_token(
    client: TestClient, path: str, headers: dict[str, str]
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text


def test_401_comes_before_validating_the_request(client: TestClient) -> None:
    """Callers without a token learn nothing, not even that their request was malformed."""
    response = client.post("/rooms/no%20spaces/messages", json={"nodata": 1})
    assert response.status_code == 401
    response = client.get("/rooms/lobby/history?limit=1000", headers=bearer(forged()))
    assert response.status_code == 401


def test_the_token_never_reaches_the_log(
    client: TestClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    good, bad = service_token(), forged()
    assert client.get("/rooms", headers=bearer(good)).status_code == 200
    assert client.get("/rooms", headers=bearer(bad)).status_code == 401
    lines = log_lines()
    assert [(line["route"], line["status"]) for line in lines if line["message"] == "request"] == [
        ("/rooms", 200),
        ("/rooms", 401),
    ]
    for line in lines:
        assert good not in str(line)
        assert bad not in str(line)


@pytest.fixture
def jwks_stack(token_settings: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The OIDC stack: RS256 keys from a JWKS endpoint, no shared secret."""
    monkeypatch.delenv("TOKEN_SECRET_ID")
    monkeypatch.setenv("TOKEN_ALGORITHMS", "RS256,ES256")
    with jwks_server() as server:
        server.serve(rsa_key("rsa-1"))
        monkeypatch.setenv("JWKS_URL", server.url)
        yield server.url


def test_tokens_from_an_oidc_provider(client: TestClient, jwks_stack: str) -> None:
    provider = rsa_key("rsa-1")
    good = provider.sign(payload(sub=SERVICE, roles=["service"]))
    assert client.get("/rooms", headers=bearer(good)).status_code == 200
    # The shared-secret kind is refused in this stack: the algorithm is pinned.
    response = client.get("/rooms", headers=bearer(service_token()))
    assert response.status_code == 401
    user = provider.sign(payload(sub="u-ada"))
    assert client.get("/rooms", headers=bearer(user)).status_code == 403


@pytest.mark.parametrize(
    "path",
    ["/users/a%09b/messages", "/users/" + "u" * 200 + "/messages", "/rooms/bad%20room/messages"],
)
def test_a_malformed_path_without_a_token_is_401_not_422(client: TestClient, path: str) -> None:
    # The token is checked before anything else: the answer says nothing about the path.
    response = call(client, "POST", path, {"data": 1}, {})
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "message": MISSING}
