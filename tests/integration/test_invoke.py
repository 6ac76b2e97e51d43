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
    return read_template(APP_TEMPLATE).routes[route_key].function


@pytest.fixture(scope="module")
def runs(fixture_gateway: LocalGateway) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every events/*.json through its function; the fixture app has no table of its own."""
    endpoint = ("--dynamodb-endpoint", fixture_gateway.dynamodb_endpoint)
    return {path.stem: invoke(function_for(path), path, *endpoint) for path in EVENTS}


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
