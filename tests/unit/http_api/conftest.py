"""The HTTP API over moto: the template's table, moto's @connections, the stack's token secret.

`api` is the FastAPI app under httpx's TestClient (real requests through the ASGI stack);
`chat` drives WebSocket connections through the template's handlers, so that a push has
members to reach. Tokens are HS256 with the secret kept in moto's Secrets Manager, read by
the same verifier the `$connect` authorizer uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from switchboard.handlers import authorizer
from switchboard.http_api.app import create_app
from switchboard.http_api.settings import HttpSettings
from switchboard.tokens import SERVICE_ROLE
from tests.support.stack import Stack
from tests.support.tokens import AUDIENCE, ISSUER, SECRET, hs256, payload

SECRET_NAME = "switchboard-test/token-secret"
WEBSOCKET_URL = "wss://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"
SERVICE = "svc-billing"


def service_token(**claims: Any) -> str:
    """A valid token of the stack with the service role; keywords replace claims."""
    made = {"sub": SERVICE, "name": "Billing", "roles": [SERVICE_ROLE], **claims}
    return hs256(payload(**made))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token_settings(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The HS256 stack's token settings, as template.yaml gives HttpApiFunction."""
    boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=SECRET)
    monkeypatch.setenv("TOKEN_SECRET_ID", SECRET_NAME)
    monkeypatch.setenv("TOKEN_ISSUER", ISSUER)
    monkeypatch.setenv("TOKEN_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("TOKEN_ALGORITHMS", "HS256")
    monkeypatch.delenv("JWKS_URL", raising=False)
    monkeypatch.delenv("ALLOW_ANONYMOUS", raising=False)
    # A cold start: no verifier (or secret) kept from another test.
    authorizer.reset()
    yield
    authorizer.reset()


@pytest.fixture
def client(table: str, token_settings: None) -> Iterator[TestClient]:
    with TestClient(create_app(HttpSettings(websocket_url=WEBSOCKET_URL))) as test_client:
        yield test_client


@pytest.fixture
def service() -> dict[str, str]:
    """Headers of a request from the billing service."""
    return bearer(service_token())


@pytest.fixture
def chat(table: str) -> Stack:
    return Stack()
