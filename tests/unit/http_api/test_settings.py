"""WEBSOCKET_URL: read once, refused when it is no WebSocket URL; and where pushes go when
MANAGEMENT_ENDPOINT is not set.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from switchboard import runtime
from switchboard.errors import ConfigError
from switchboard.http_api.app import create_app
from switchboard.http_api.settings import HttpSettings
from tests.support.events import connection_id
from tests.support.management_api import received
from tests.support.stack import Stack
from tests.unit.http_api.conftest import WEBSOCKET_URL


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        (WEBSOCKET_URL, "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"),
        ("ws://127.0.0.1:3001/prod/", "http://127.0.0.1:3001/prod"),
        ("wss://chat.example.com", "https://chat.example.com"),
    ],
)
def test_the_management_endpoint_follows_the_websocket_url(url: str, endpoint: str) -> None:
    settings = HttpSettings.from_env({"WEBSOCKET_URL": url})
    assert settings.websocket_url == url
    assert settings.management_endpoint == endpoint


def test_no_websocket_url() -> None:
    settings = HttpSettings.from_env({"WEBSOCKET_URL": "  "})
    assert (settings.websocket_url, settings.management_endpoint) == (None, None)


@pytest.mark.parametrize(
    "url", ["https://example.com/prod", "example.com", "wss://", "javascript:alert(1)"]
)
def test_a_websocket_url_that_is_none_fails_at_start(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^WEBSOCKET_URL must be a ws:// or wss:// URL, got"):
        HttpSettings.from_env({"WEBSOCKET_URL": url})


def test_pushes_reach_the_websocket_api_without_management_endpoint(
    chat: Stack,
    token_settings: None,
    service: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MANAGEMENT_ENDPOINT")
    runtime.reset()
    chat.connect(connection_id(1), name="ada")
    client = TestClient(create_app(HttpSettings(websocket_url=WEBSOCKET_URL)))
    response = client.post("/rooms/lobby/messages", json={"data": 1}, headers=service)
    assert response.json()["delivered"] == 1
    assert received(connection_id(1))[0]["data"] == 1


def test_without_either_url_a_push_fails_and_says_why(
    chat: Stack,
    token_settings: None,
    service: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MANAGEMENT_ENDPOINT")
    runtime.reset()
    client = TestClient(create_app(HttpSettings()), raise_server_exceptions=False)
    response = client.post("/rooms/lobby/messages", json={"data": 1}, headers=service)
    assert response.status_code == 500
    assert response.json() == {"error": "InternalServerError", "message": "internal server error"}
