"""`switchboard invoke FUNCTION -e events/X.json`: a Docker-free `sam local invoke`.

Each event goes to the function the template routes its `routeKey` to. The events run one
after another (in name order: connect, then disconnect, ...) against one DynamoDB, the fixture
gateway's, which starting a fresh embedded one for each would cost seconds; one run shows the
default, embedded DynamoDB works too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from switchboard.local.template_model import read_template
from tests.integration.local_gateway import APP_TEMPLATE, FIXTURE_TEMPLATE, REPO, LocalGateway

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
EVENTS = sorted((REPO / "events").glob("*.json"))
INVOKE_SECONDS = 120


def invoke(function: str, event: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switchboard", "invoke", function, "-e", str(event), *options],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=INVOKE_SECONDS,
        check=False,
        # With --dynamodb-endpoint the function uses the caller's credentials, as with AWS;
        # the local DynamoDB takes any.
        env={**os.environ, **LOCAL_CREDENTIALS},
    )


def function_for(event_path: Path) -> str:
    event = json.loads(event_path.read_text(encoding="utf-8"))
    route_key = event["requestContext"]["routeKey"]
    model = read_template(APP_TEMPLATE)
    if event.get("version") == "2.0":  # an HTTP API event (payload format 2.0)
        assert model.http_api is not None
        return model.http_api.routes[route_key].function
    return model.routes[route_key].function


@pytest.fixture(scope="module")
def runs(fixture_gateway: LocalGateway) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every events/*.json through its function; the fixture app has no table of its own."""
    endpoint = ("--dynamodb-endpoint", fixture_gateway.dynamodb_endpoint)
    http = [path for path in EVENTS if path.stem.startswith("http-")]
    done = {
        path.stem: invoke(function_for(path), path, *endpoint)
        for path in EVENTS
        if path not in http
    }
    # The HTTP events depend on no other: run them side by side, as each invoke spends most
    # of its time starting its processes.
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(lambda path: invoke(function_for(path), path, *endpoint), http)
        done.update(zip([path.stem for path in http], results, strict=True))
    return done


def test_there_are_events_to_invoke() -> None:
    names = {path.stem for path in EVENTS}
    assert {
        "connect",
        "disconnect",
        "sendmessage",
        "join",
        "leave",
        "unknown-action",
        "invalid-json",
    } <= names


def reply_of(result: subprocess.CompletedProcess[str]) -> tuple[int, Any]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    response = json.loads(result.stdout)
    assert isinstance(response, dict), response
    body = json.loads(response["body"]) if "body" in response else None
    return int(response["statusCode"]), body


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("connect", 200, None),
        ("disconnect", 200, None),
        # Against an empty table, the sender is not registered: the protocol says so.
        ("sendmessage", 410, "not_connected"),
        ("join", 410, "not_connected"),
        ("leave", 410, "not_connected"),
        ("unknown-action", 400, "unknown_action"),
        ("invalid-json", 400, "invalid_json"),
    ],
)
def test_invoke_prints_the_response_and_exits_0(
    runs: dict[str, subprocess.CompletedProcess[str]], name: str, status: int, error: str | None
) -> None:
    code, body = reply_of(runs[name])
    assert code == status
    if error is None:
        assert body is None
    else:
        assert (body["type"], body["error"]) == ("error", error)


def test_every_event_file_is_covered(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    for name, result in runs.items():
        assert result.returncode == 0, f"{name}: exit {result.returncode}\n{result.stderr}"
        json.loads(result.stdout)


def test_invoke_with_the_embedded_dynamodb() -> None:
    code, body = reply_of(invoke("ConnectFunction", REPO / "events" / "connect.json"))
    assert (code, body) == (200, None)


def test_invoke_exits_non_zero_when_the_handler_raises(tmp_path: Path) -> None:
    result = invoke(
        "CrashFunction",
        REPO / "events" / "sendmessage.json",
        "--template",
        str(FIXTURE_TEMPLATE),
        "--parameter-overrides",
        f"EventLogDir={tmp_path}",
    )
    assert result.returncode == 1, result.stderr
    error = json.loads(result.stdout)
    assert (error["errorType"], error["errorMessage"]) == ("RuntimeError", "crash on purpose")
    assert "Traceback" in result.stderr  # the handler's own traceback, as Lambda logs it


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("http-health", 200, None),
        ("http-index", 200, None),
        # The fixtures' placeholder token: refused, as API Gateway would pass it on.
        ("http-get-rooms", 401, "Unauthorized"),
        ("http-get-room-members", 401, "Unauthorized"),
        ("http-get-room-history", 401, "Unauthorized"),
        ("http-post-room-message", 401, "Unauthorized"),
        ("http-post-user-message", 401, "Unauthorized"),
    ],
)
def test_invoke_runs_the_http_api_function(
    runs: dict[str, subprocess.CompletedProcess[str]], name: str, status: int, error: str | None
) -> None:
    result = runs[name]
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == status
    if name == "http-health":
        assert json.loads(response["body"]) == {"status": "ok"}
    elif name == "http-index":
        assert response["headers"]["content-type"] == "text/html; charset=utf-8"
        assert "content-security-policy" in response["headers"]
    else:
        assert json.loads(response["body"])["error"] == error
