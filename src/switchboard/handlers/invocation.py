"""What every WebSocket entry point shares: the event view, error replies, one log line.

A route function takes the event view and the container's runtime and returns the reply
(a JSON object for the caller, or None for no reply). Client mistakes become an error reply;
anything else is logged and re-raised, so Lambda reports the failure and API Gateway sends
the caller its "Internal server error" frame.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from switchboard import runtime
from switchboard.errors import ClientError, MalformedEvent
from switchboard.events import WebSocketEvent
from switchboard.protocol import error_reply
from switchboard.structured_log import get_logger

log = get_logger("switchboard")

Reply = dict[str, Any]
RouteFunction = Callable[[WebSocketEvent, runtime.Runtime], "Response"]
LambdaHandler = Callable[[Mapping[str, Any], Any], dict[str, Any]]


class Response:
    """A proxy integration response: status code and an optional JSON body."""

    __slots__ = ("body", "status")

    def __init__(self, body: Reply | None = None, status: int = 200) -> None:
        self.status = status
        self.body = body

    def to_proxy(self) -> dict[str, Any]:
        result: dict[str, Any] = {"statusCode": self.status}
        if self.body is not None:
            result["body"] = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))
        return result


def websocket_handler(route: RouteFunction) -> LambdaHandler:
    """Wrap a route function as a Lambda handler."""

    def handler(raw_event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        started = time.perf_counter()
        event = WebSocketEvent(raw_event)
        fields = {
            "route": event.get_route_key(),
            "connectionId": event.get_connection_id(),
            "requestId": event.request_id,
        }
        outcome = "ok"
        try:
            problem = event.problem()
            if problem is not None:
                outcome = "malformed_event"
                log.warning("malformed event", extra={**fields, "problem": problem})
                return Response(error_reply(MalformedEvent(problem)), 400).to_proxy()
            rt = runtime.current()
            preview = rt.config.log_preview_chars
            if preview and event.body:
                # Only ever the first characters, and only where the stack asks for them.
                fields["bodyPreview"] = event.body[:preview]
            response = route(event, rt)
            if response.status >= 400:
                outcome = f"status_{response.status}"
            return response.to_proxy()
        except ClientError as error:
            outcome = error.code
            # The protocol promises the list of actions with every `$default` error (unknown
            # action, non-JSON, non-object), not only with unknown_action.
            actions = error.code == "unknown_action" or fields["route"] == "$default"
            return Response(error_reply(error, actions=actions), error.status).to_proxy()
        except Exception:
            outcome = "error"
            log.exception("handler failed", extra=fields)
            raise
        finally:
            log.info(
                "invocation",
                extra={
                    **fields,
                    "outcome": outcome,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                },
            )

    handler.__name__ = route.__name__
    handler.__doc__ = route.__doc__
    return handler
