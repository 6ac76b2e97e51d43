"""What anyone may fetch: the health check, the chat page (its URL and its CSP), the docs;
and the JSON errors of paths and methods that do not exist.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from switchboard import runtime
from switchboard.http_api import page
from switchboard.http_api.app import create_app
from switchboard.http_api.settings import HttpSettings
from tests.unit.http_api.conftest import WEBSOCKET_URL

# ---------------------------------------------------------------------------------- health


def test_health_when_the_table_answers(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-content-type-options"] == "nosniff"


def test_health_when_the_table_does_not_answer(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, log_lines: Callable[[], list[Any]]
) -> None:
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    runtime.reset()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {
        "error": "ServiceUnavailable",
        "message": "the table does not answer",
    }
    assert "no-such-table" not in response.text, "why goes to the log, not to anyone asking"
    [failure] = [line for line in log_lines() if line["level"] == "ERROR"]
    assert "ResourceNotFoundException" in failure["exception"]


# ------------------------------------------------------------------------------------ page


def test_the_page_names_the_websocket_url(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert page.PLACEHOLDER not in response.text
    assert f'<meta name="switchboard-websocket-url" content="{WEBSOCKET_URL}">' in response.text


def test_the_url_is_escaped_into_the_page(table: str) -> None:
    hostile = 'wss://example.test/prod?a=1&b="><script>alert(1)</script>'
    client = TestClient(create_app(HttpSettings(websocket_url=hostile)))
    text = client.get("/").text
    assert "<script>alert(1)</script>" not in text
    assert (
        'content="wss://example.test/prod?a=1&amp;b=&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;'
    ) in text


def test_without_a_url_the_placeholder_is_emptied(table: str) -> None:
    client = TestClient(create_app(HttpSettings(websocket_url=None)))
    assert '<meta name="switchboard-websocket-url" content="">' in client.get("/").text


def csp(response: Any) -> dict[str, list[str]]:
    directives = [part.split() for part in response.headers["content-security-policy"].split(";")]
    return {words[0]: words[1:] for words in directives}


def sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_may_run_its_own_inline_script_and_style_only(client: TestClient) -> None:
    response = client.get("/")
    policy = csp(response)
    scripts = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", response.text, re.DOTALL)
    assert scripts and styles, "the page has an inline script and style"
    assert policy["script-src"] == [sha256(s) for s in scripts]
    assert policy["style-src"] == [sha256(s) for s in styles]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert policy["default-src"] == ["'none'"]
    assert policy["connect-src"] == ["ws:", "wss:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'none'"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_policy_follows_the_page() -> None:
    template = (
        "<html><head><style>b{}</style></head><body>__WEBSOCKET_URL__"
        "<script>one()</script><script type='module'>two()</script></body></html>"
    )
    rendered = page.render(template, HttpSettings(websocket_url="ws://127.0.0.1:3001/prod"))
    assert rendered.html.count("ws://127.0.0.1:3001/prod") == 1
    policy = dict(
        (part.split()[0], part.split()[1:]) for part in rendered.content_security_policy.split("; ")
    )
    assert policy["script-src"] == [sha256("one()"), sha256("two()")]
    assert policy["style-src"] == [sha256("b{}")]
    bare = page.render("<p>no script</p>", HttpSettings())
    assert "script-src 'none'" in bare.content_security_policy
    assert "style-src 'none'" in bare.content_security_policy


# ------------------------------------------------------------------------------------ docs


def test_the_openapi_document_and_the_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Switchboard HTTP API"
    assert spec["components"]["securitySchemes"] == {
        "serviceToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": spec["components"]["securitySchemes"]["serviceToken"]["description"],
        }
    }
    secured = {
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"serviceToken": []}]
    }
    assert secured == {
        "POST /rooms/{room}/messages",
        "POST /users/{userId}/messages",
        "GET /rooms",
        "GET /rooms/{room}/members",
        "GET /rooms/{room}/history",
    }
    for path in ("/", "/health"):
        assert "security" not in spec["paths"][path]["get"]
    operation_ids = {
        operation["operationId"]
        for operations in spec["paths"].values()
        for operation in operations.values()
    }
    assert operation_ids == {
        "post_to_room",
        "post_to_user",
        "list_rooms",
        "list_members",
        "room_history",
        "health",
        "chat_page",
    }
    room = spec["paths"]["/rooms/{room}/members"]["get"]["parameters"][0]
    assert room["schema"]["pattern"] == "^[A-Za-z0-9_.:-]{1,64}$"
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/openapi.json" in docs.text


# ---------------------------------------------------------------------------------- errors


def test_an_unknown_path_404_as_json(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json() == {
        "error": "NotFound",
        "message": "no such endpoint: /nowhere (see /docs)",
    }


def test_a_wrong_method_405_as_json(client: TestClient) -> None:
    response = client.delete("/rooms")
    assert response.status_code == 405
    assert response.json() == {
        "error": "MethodNotAllowed",
        "message": "DELETE is not allowed on /rooms",
    }
    assert response.headers["allow"] == "GET"


def test_an_unexpected_failure_500_without_details(
    client: TestClient,
    service: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    log_lines: Callable[[], list[Any]],
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(runtime.current().store, "room_members", broken)
    failing = TestClient(client.app, raise_server_exceptions=False)
    response = failing.get("/rooms/dev/members", headers=service)
    assert response.status_code == 500
    assert response.json() == {"error": "InternalServerError", "message": "internal server error"}
    assert response.headers["x-content-type-options"] == "nosniff"  # as on every answer
    assert "secret internals" not in response.text
    assert any("secret internals" in line.get("exception", "") for line in log_lines())
