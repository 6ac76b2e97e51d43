"""The wrapper every entry point shares: proxy responses, error replies, failures, one log line."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from switchboard import runtime
from switchboard.errors import BadRequest, ConfigError, Forbidden, InvalidJson, UnknownAction
from switchboard.events import WebSocketEvent
from switchboard.handlers.invocation import Response, websocket_handler
from switchboard.protocol import ACTIONS
from tests.support.events import load_event

LogLines = Callable[[], list[dict[str, Any]]]


def test_response_to_proxy() -> None:
    assert Response().to_proxy() == {"statusCode": 200}
    assert Response({"type": "sent", "data": "é"}, 201).to_proxy() == {
        "statusCode": 201,
        "body": '{"type":"sent","data":"é"}',
    }


def answering(response: Response) -> Callable[[Any, Any], dict[str, Any]]:
    def route(event: WebSocketEvent, rt: runtime.Runtime) -> Response:
        """A route that answers the same every time."""
        return response

    return websocket_handler(route)


def raising(error: Exception) -> Callable[[Any, Any], dict[str, Any]]:
    def route(event: WebSocketEvent, rt: runtime.Runtime) -> Response:
        raise error

    return websocket_handler(route)


def test_passes_the_route_response_through() -> None:
    handler = answering(Response({"ok": True}))
    assert handler(load_event("sendmessage"), None) == {"statusCode": 200, "body": '{"ok":true}'}


def test_keeps_the_route_functions_name_and_doc() -> None:
    handler = answering(Response())
    assert handler.__name__ == "route"
    assert handler.__doc__ == "A route that answers the same every time."


@pytest.mark.parametrize(
    ("error", "status", "reply"),
    [
        (BadRequest("bad"), 400, '{"type":"error","error":"bad_request","message":"bad"}'),
        (Forbidden("no"), 403, '{"type":"error","error":"forbidden","message":"no"}'),
        (
            UnknownAction("what"),
            400,
            '{"type":"error","error":"unknown_action","message":"what",'
            '"actions":["sendmessage","join","leave","sendto","rooms","members","history"]}',
        ),
    ],
)
def test_client_errors_become_replies(error: Exception, status: int, reply: str) -> None:
    assert raising(error)(load_event("sendmessage"), None) == {"statusCode": status, "body": reply}


@pytest.mark.parametrize("error", [BadRequest("x"), InvalidJson("x"), UnknownAction("x")])
def test_default_route_errors_list_the_actions(error: Exception) -> None:
    response = raising(error)(load_event("invalid-json"), None)
    assert json.loads(response["body"])["actions"] == list(ACTIONS)


def test_custom_route_errors_other_than_unknown_action_do_not() -> None:
    response = raising(BadRequest("x"))(load_event("join"), None)
    assert "actions" not in json.loads(response["body"])


def test_unexpected_errors_propagate_and_are_logged(log_lines: LogLines) -> None:
    with pytest.raises(KeyError, match="boom"):
        raising(KeyError("boom"))(load_event("join"), None)
    failure, invocation = log_lines()
    assert (failure["message"], failure["level"]) == ("handler failed", "ERROR")
    assert "KeyError: 'boom'" in failure["exception"]
    assert failure["route"] == "join"
    assert (invocation["message"], invocation["outcome"]) == ("invocation", "error")


def test_a_non_2xx_response_is_its_own_outcome(log_lines: LogLines) -> None:
    answering(Response({"message": "no"}, 400))(load_event("connect"), None)
    [line] = log_lines()
    assert line["outcome"] == "status_400"


def test_a_missing_table_name_fails_the_invocation_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, log_lines: LogLines
) -> None:
    monkeypatch.delenv("TABLE_NAME")
    handler = answering(Response())
    with pytest.raises(ConfigError) as raised:
        handler(load_event("connect"), None)
    assert str(raised.value) == "TABLE_NAME is not set: it must name the DynamoDB table"
    assert [line["outcome"] for line in log_lines() if line["message"] == "invocation"] == ["error"]


def test_a_malformed_variable_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANOUT_CONCURRENCY", "many")
    with pytest.raises(ConfigError) as raised:
        answering(Response())(load_event("connect"), None)
    assert str(raised.value) == "FANOUT_CONCURRENCY must be a whole number, got 'many'"


def test_the_runtime_is_built_once_per_container() -> None:
    seen: list[runtime.Runtime] = []

    def route(event: WebSocketEvent, rt: runtime.Runtime) -> Response:
        seen.append(rt)
        return Response()

    handler = websocket_handler(route)
    handler(load_event("connect"), None)
    handler(load_event("join"), None)
    assert len(seen) == 2 and seen[0] is seen[1] is runtime.current()


def test_a_malformed_event_gets_a_clear_error_and_one_line(log_lines: LogLines) -> None:
    event = load_event("sendmessage")
    event["requestContext"]["connectionId"] = "x" * 3000
    response = answering(Response())(event, None)
    assert response == {
        "statusCode": 400,
        "body": '{"type":"error","error":"bad_request","message":'
        '"malformed event: requestContext.connectionId must be 1-128 printable ASCII"}',
    }
    warning, invocation = log_lines()
    assert (warning["message"], warning["level"]) == ("malformed event", "WARNING")
    assert (invocation["outcome"], invocation["connectionId"]) == ("malformed_event", "x" * 128)


@pytest.mark.parametrize("preview", [0, 5])
def test_the_body_is_logged_only_as_the_configured_preview(
    preview: int, monkeypatch: pytest.MonkeyPatch, log_lines: LogLines
) -> None:
    monkeypatch.setenv("LOG_PREVIEW_CHARS", str(preview))
    runtime.reset()
    event = load_event("sendmessage")
    answering(Response())(event, None)
    [line] = log_lines()
    assert line.get("bodyPreview") == (event["body"][:preview] if preview else None)
    assert event["body"][preview:] not in json.dumps(line)
