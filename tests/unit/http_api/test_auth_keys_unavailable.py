"""A JWKS outage is the provider's, not the token's: 503 with Retry-After, never 401 (on which
a client would throw away a good token), and nothing is delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from switchboard.http_api.auth import KEYS_RETRY_AFTER_SECONDS
from switchboard.tokens import SERVICE_ROLE
from tests.support.jwks import rsa_key
from tests.support.management_api import recipients
from tests.support.tokens import payload
from tests.support.unreachable import unreachable_jwks_url
from tests.unit.http_api.conftest import SERVICE, bearer

SERVICE_TOKEN = rsa_key("rsa-1").sign(payload(sub=SERVICE, name="Billing", roles=[SERVICE_ROLE]))


@pytest.fixture
def jwks_down(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The OIDC stack, its JWKS URL refusing connections. The verifier is built on the first
    request, so switching the settings after the app started is a cold start in JWKS mode."""
    monkeypatch.delenv("TOKEN_SECRET_ID")
    monkeypatch.setenv("TOKEN_ALGORITHMS", "RS256")
    with unreachable_jwks_url() as url:
        monkeypatch.setenv("JWKS_URL", url)
        yield


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("POST", "/rooms/lobby/messages", {"data": "hello"}), ("GET", "/rooms", None)],
    ids=["post_to_room", "list_rooms"],
)
def test_unreachable_keys_are_503_with_retry_after(
    client: TestClient,
    jwks_down: None,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: object,
) -> None:
    with caplog.at_level(logging.WARNING, logger="switchboard.http_api"):
        response = client.request(method, path, json=body, headers=bearer(SERVICE_TOKEN))
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == str(KEYS_RETRY_AFTER_SECONDS)
    assert "WWW-Authenticate" not in response.headers
    answer = response.json()
    assert answer["error"] == "ServiceUnavailable"
    assert set(answer) == {"error", "message"}
    assert answer["message"].startswith("the token cannot be checked now")
    assert recipients() == set()
    # Logged once, with why, never with the token.
    [record] = [r for r in caplog.records if r.getMessage() == "token keys unavailable"]
    assert str(getattr(record, "reason", "")).startswith("the JWKS URL did not answer: ")
    assert record.levelname == "ERROR"  # as the authorizer logs the same outage
    logged = "".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert SERVICE_TOKEN.split(".")[2] not in logged


def test_a_bad_token_is_still_401_while_the_keys_are_down(
    client: TestClient, jwks_down: None
) -> None:
    """Tokens that need no key to refuse (not a JWT at all) keep their 401."""
    response = client.get("/rooms", headers=bearer("garbage"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_every_protected_operation_documents_the_503(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "401" in operation["responses"]:  # it takes a token
                assert "503" in operation["responses"], (method, path)
