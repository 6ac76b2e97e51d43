"""Every error Switchboard raises on purpose, under one base class."""

from __future__ import annotations


class SwitchboardError(Exception):
    """Base class of the errors Switchboard raises on purpose."""


class ConfigError(SwitchboardError):
    """An environment variable is missing or malformed."""


class ClientError(SwitchboardError):
    """A request the client got wrong; `code` is the `error` field of the reply."""

    code = "bad_request"
    status = 400


class BadRequest(ClientError):
    """A field is missing, has the wrong type, or is too large."""


class MalformedEvent(BadRequest):
    """The event is not one API Gateway sends (a misconfigured integration or test)."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"malformed event: {problem}")


class PayloadTooLarge(BadRequest):
    """The message would not fit one `@connections` POST (the HTTP API answers 413)."""


class InvalidJson(ClientError):
    """The message body is not JSON."""

    code = "invalid_json"


class UnknownAction(ClientError):
    """No route handles the message's action."""

    code = "unknown_action"


class NotAuthenticated(ClientError):
    """No credentials, or credentials that do not check out (the HTTP API answers 401)."""

    code = "unauthorized"
    status = 401

    def __init__(self, message: str, *, challenge: str = "Bearer") -> None:
        super().__init__(message)
        #: The `WWW-Authenticate` header to answer with (RFC 6750).
        self.challenge = challenge


class Forbidden(ClientError):
    """The caller may not do this, for example send to a room it is not in."""

    code = "forbidden"
    status = 403


class NotFound(ClientError):
    """The user or connection asked for does not exist or is offline."""

    code = "not_found"
    status = 404


class ConnectionGone(ClientError):
    """The caller's connection record no longer exists (pruned or expired): reconnect."""

    code = "not_connected"
    status = 410
