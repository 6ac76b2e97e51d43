"""The `$connect` REQUEST authorizer: a JWT from `?token=` or `Authorization: Bearer`.

A valid token allows the connection and hands its identity to every later event; a
missing token is allowed as an anonymous guest only where the stack permits it. Anything
else raises `Unauthorized`, which API Gateway answers with 401 before `$connect` runs, so
no connection record is ever written for a bad token. When the JWKS URL does not answer,
no token can be checked: `KeysUnavailable` propagates, an authorizer error that API Gateway
answers with 500, so that clients retry instead of dropping a token that may be good.
Tokens are never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import boto3
import jwt

from switchboard.config import AuthConfig
from switchboard.events import WebSocketEvent
from switchboard.identity import Identity
from switchboard.structured_log import get_logger
from switchboard.tokens import InvalidToken, KeysUnavailable, TokenSettings, TokenVerifier

log = get_logger("switchboard.authorizer")
_lock = threading.Lock()
_verifier: tuple[AuthConfig, TokenVerifier] | None = None


class Unauthorized(Exception):
    """API Gateway answers 401 when an authorizer raises with exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def token_from(event: WebSocketEvent) -> str | None:
    query_token = event.query_string_parameters.get("token")
    if query_token:
        return query_token
    for name, value in event.headers.items():
        if name.lower() == "authorization" and value.lower().startswith("bearer "):
            return value[7:].strip() or None
    return None


def verifier() -> tuple[AuthConfig, TokenVerifier]:
    """Built once per container: the secret is read from Secrets Manager on first use."""
    global _verifier  # noqa: PLW0603 - the per-container singleton
    with _lock:
        if _verifier is None:
            config = AuthConfig.from_env()
            settings = TokenSettings(config.issuer, config.audience, config.algorithms)
            if config.jwks_url:
                # The key set is cached for 5 minutes; keys the provider drops stop working.
                client = jwt.PyJWKClient(config.jwks_url, lifespan=300, timeout=5)
                _verifier = (config, TokenVerifier(settings, jwks_client=client))
            else:
                secrets = boto3.client("secretsmanager")
                secret = secrets.get_secret_value(SecretId=str(config.secret_id))["SecretString"]
                _verifier = (config, TokenVerifier(settings, secret=secret))
        return _verifier


def reset() -> None:
    global _verifier  # noqa: PLW0603
    with _lock:
        _verifier = None


def policy(effect: str, method_arn: str, principal: str, identity: Identity) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}
            ],
        },
        "context": identity.to_context(),
    }


def handler(raw_event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    started = time.perf_counter()
    event = WebSocketEvent(raw_event)
    method_arn = str(raw_event.get("methodArn", ""))
    outcome = "error"
    try:
        config, token_verifier = verifier()
        token = token_from(event)
        if token is None:
            if not config.allow_anonymous:
                outcome = "no_token"
                raise Unauthorized()
            outcome = "anonymous"
            return policy("Allow", method_arn, "anonymous", Identity(user_id=None, name=None))
        try:
            identity = token_verifier.verify(token)
        except InvalidToken as error:
            outcome = f"invalid_token: {error}"
            raise Unauthorized() from None
        except KeysUnavailable as error:
            # Not Unauthorized: the token may be good. Raised on, it is an authorizer error.
            outcome = f"keys_unavailable: {error}"
            raise
        outcome = "allow"
        return policy("Allow", method_arn, str(identity.user_id), identity)
    finally:
        # A refusal is the authorizer working; anything it could not decide is an error.
        failed = outcome == "error" or outcome.startswith("keys_unavailable")
        log.log(
            logging.ERROR if failed else logging.INFO,
            "authorization",
            extra={
                "connectionId": event.get_connection_id(),
                "requestId": event.request_id,
                "outcome": outcome,
                "durationMs": round((time.perf_counter() - started) * 1000, 2),
            },
        )
