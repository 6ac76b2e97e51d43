"""The `$connect` REQUEST authorizer: Allow with the identity, or exactly `Unauthorized`.

Driven like API Gateway drives it: a REQUEST authorizer event (connect.json plus `type` and
`methodArn`), the HS256 secret in moto's Secrets Manager, or RS256 keys from a real JWKS
endpoint on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import logging
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import jwt
import pytest
from moto.secretsmanager.models import SecretsManagerBackend

from switchboard.errors import ConfigError, SwitchboardError
from switchboard.handlers import authorizer
from switchboard.structured_log import JsonFormatter
from switchboard.tokens import KeysUnavailable
from tests.support.events import load_event
from tests.support.jwks import JwksServer, ec_key, jwks_server, rsa_key
from tests.support.tokens import (
    AUDIENCE,
    BAD_HS256_TOKENS,
    ISSUER,
    SECRET,
    SUBJECT,
    hs256,
    key_confusion,
    payload,
)
from tests.support.unreachable import unreachable_jwks_url

LogLines = Callable[[], list[dict[str, Any]]]
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/$connect"
SECRET_NAME = "switchboard-test/token-secret"
CONNECTION_ID = "BFaT_fALIAMCKug="  # connect.json's
REQUEST_ID = "BFaT_fAIIAMFoVw="
RSA_1, RSA_2, EC_1 = rsa_key("rsa-1"), rsa_key("rsa-2"), ec_key("ec-1")


def authorizer_event(
    query: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """What API Gateway sends a REQUEST authorizer on `$connect`."""
    event = load_event("connect")
    event.update(type="REQUEST", methodArn=METHOD_ARN, stageVariables={})
    event["queryStringParameters"] = dict(query or {})
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in (query or {}).items()}
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    return event


def with_token(token: str) -> dict[str, Any]:
    return authorizer_event(query={"token": token})


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    return authorizer.handler(event, None)


def unauthorized(event: dict[str, Any]) -> Exception:
    """The exception the handler raised: exactly the message API Gateway turns into 401."""
    with pytest.raises(Exception) as caught:
        authorize(event)
    error = caught.value
    assert error.args == ("Unauthorized",)
    assert str(error) == "Unauthorized"
    assert not isinstance(error, SwitchboardError)
    # Why the token was refused goes to our log, not into the error the Lambda reports.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__
    return error


def allow_policy(principal: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
            ],
        },
        "context": context,
    }


ADA_CONTEXT = {"userId": SUBJECT, "name": "Ada", "rooms": "lobby,private:ops", "anonymous": "false"}
GUEST_CONTEXT = {"userId": "", "name": "", "rooms": "", "anonymous": "true"}


@pytest.fixture(autouse=True)
def fresh_container() -> Iterator[None]:
    """Each test is a cold start: no verifier, no secret kept from the test before."""
    authorizer.reset()
    yield
    authorizer.reset()


@pytest.fixture
def secret_reads(aws: None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The HS256 stack: its secret in Secrets Manager; the list records each read of it."""
    boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=SECRET)
    reads: list[str] = []
    read = SecretsManagerBackend.get_secret_value

    def counted(self: SecretsManagerBackend, secret_id: str, **kwargs: Any) -> Any:
        reads.append(secret_id)
        return read(self, secret_id=secret_id, **kwargs)

    monkeypatch.setattr(SecretsManagerBackend, "get_secret_value", counted)
    monkeypatch.setenv("TOKEN_SECRET_ID", SECRET_NAME)
    monkeypatch.setenv("TOKEN_ISSUER", ISSUER)
    monkeypatch.setenv("TOKEN_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("TOKEN_ALGORITHMS", "HS256")
    monkeypatch.setenv("ALLOW_ANONYMOUS", "false")
    monkeypatch.delenv("JWKS_URL", raising=False)
    return reads


@pytest.fixture
def anonymous_allowed(secret_reads: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_ANONYMOUS", "true")


@pytest.fixture
def jwks(secret_reads: list[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[JwksServer]:
    """The OIDC stack: RS256 keys from a JWKS endpoint, no shared secret."""
    monkeypatch.delenv("TOKEN_SECRET_ID")
    monkeypatch.setenv("TOKEN_ALGORITHMS", "RS256")
    with jwks_server() as server:
        server.serve(RSA_1)
        monkeypatch.setenv("JWKS_URL", server.url)
        yield server


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """Call it for the JSON lines the authorizer logged during the test.

    conftest's `log_lines` reads the `switchboard` logger; the authorizer has a logger and a
    stdout handler of its own (`switchboard.authorizer`, propagate=False), so read that one.
    """
    [handler] = [
        handler
        for handler in authorizer.log.handlers
        if isinstance(handler, logging.StreamHandler)
        and isinstance(handler.formatter, JsonFormatter)
    ]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        if previous is not None:
            handler.setStream(previous)


def authorization_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("message") == "authorization"]


# -- allowed -----------------------------------------------------------------------------------


def test_a_valid_token_in_the_query_string(secret_reads: list[str]) -> None:
    policy = authorize(with_token(hs256(payload())))
    assert policy == allow_policy(SUBJECT, ADA_CONTEXT)
    assert all(isinstance(value, str) for value in policy["context"].values())


@pytest.mark.parametrize(
    "header", ["Authorization", "authorization", "AUTHORIZATION", "aUtHoRiZaTiOn"]
)
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_a_valid_token_in_the_authorization_header(
    secret_reads: list[str], header: str, scheme: str
) -> None:
    event = authorizer_event(headers={header: f"{scheme} {hs256(payload())}"})
    assert authorize(event) == allow_policy(SUBJECT, ADA_CONTEXT)


def test_the_context_carries_only_the_valid_private_rooms(secret_reads: list[str]) -> None:
    token = hs256(payload(rooms=["private:b", "private:a,private:z", "lobby", "private:a"]))
    assert authorize(with_token(token))["context"]["rooms"] == "lobby,private:a,private:b"


def test_a_guest_when_anonymous_connections_are_allowed(anonymous_allowed: None) -> None:
    assert authorize(authorizer_event()) == allow_policy("anonymous", GUEST_CONTEXT)


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ({"token": ""}, {}),
        ({}, {"Authorization": "Bearer "}),
        ({}, {"Authorization": "Basic dXNlcjpwYXNz"}),
    ],
    ids=["empty_query_token", "empty_bearer", "basic_auth"],
)
def test_no_bearer_token_is_a_guest_when_allowed(
    anonymous_allowed: None, query: dict[str, str], headers: dict[str, str]
) -> None:
    assert authorize(authorizer_event(query, headers)) == allow_policy("anonymous", GUEST_CONTEXT)


def test_a_valid_token_is_not_downgraded_to_a_guest(anonymous_allowed: None) -> None:
    assert authorize(with_token(hs256(payload())))["context"] == ADA_CONTEXT


# -- refused -----------------------------------------------------------------------------------


@pytest.mark.parametrize("allow_anonymous", ["false", "true"])
@pytest.mark.parametrize("bad", sorted(BAD_HS256_TOKENS))
def test_a_bad_token_is_unauthorized(
    secret_reads: list[str],
    log_lines: LogLines,
    monkeypatch: pytest.MonkeyPatch,
    bad: str,
    allow_anonymous: str,
) -> None:
    """Even where guests are welcome: a bad token is never taken for no token."""
    monkeypatch.setenv("ALLOW_ANONYMOUS", allow_anonymous)
    token = BAD_HS256_TOKENS[bad]()
    unauthorized(with_token(token))
    unauthorized(authorizer_event(headers={"Authorization": f"Bearer {token}"}))
    outcomes = [line["outcome"] for line in authorization_lines(log_lines())]
    assert len(outcomes) == 2
    assert all(outcome.startswith("invalid_token: ") for outcome in outcomes)


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        (None, {}),
        ({"token": ""}, {}),
        ({}, {"Authorization": "Bearer "}),
        ({}, {"Authorization": "Basic dXNlcjpwYXNz"}),
        ({}, {"Authorization": hs256(payload())}),
        ({"access_token": hs256(payload())}, {}),
    ],
    ids=[
        "nothing",
        "empty_query_token",
        "empty_bearer",
        "basic_auth",
        "token_without_scheme",
        "wrong_parameter",
    ],
)
def test_no_token_is_unauthorized_unless_anonymous_is_allowed(
    secret_reads: list[str],
    log_lines: LogLines,
    query: dict[str, str] | None,
    headers: dict[str, str],
) -> None:
    event = authorizer_event(query, headers)
    if query is None:
        del event["queryStringParameters"], event["multiValueQueryStringParameters"]
    unauthorized(event)
    assert [line["outcome"] for line in authorization_lines(log_lines())] == ["no_token"]


def test_the_query_token_is_the_one_checked(secret_reads: list[str]) -> None:
    """A bad query token is refused even beside a good header: no shopping for credentials."""
    event = authorizer_event(
        query={"token": BAD_HS256_TOKENS["expired"]()},
        headers={"Authorization": f"Bearer {hs256(payload())}"},
    )
    unauthorized(event)


# -- the log -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_token", "outcome"),
    [
        (lambda: hs256(payload()), "allow"),
        (BAD_HS256_TOKENS["forged_signature"], "invalid_token: InvalidSignatureError"),
        (BAD_HS256_TOKENS["expired"], "invalid_token: ExpiredSignatureError"),
        (BAD_HS256_TOKENS["wrong_audience"], "invalid_token: InvalidAudienceError"),
        (BAD_HS256_TOKENS["alg_none"], "invalid_token: InvalidAlgorithmError"),
        (BAD_HS256_TOKENS["garbage"], "invalid_token: DecodeError"),
        (BAD_HS256_TOKENS["huge"], "invalid_token: missing or oversized token"),
        (BAD_HS256_TOKENS["non_ascii"], "invalid_token: "),
    ],
    ids=["valid", "forged", "expired", "audience", "alg_none", "garbage", "huge", "non_ascii"],
)
@pytest.mark.parametrize("where", ["query", "header"])
def test_one_log_line_per_call_with_the_outcome_and_never_the_token(
    secret_reads: list[str],
    log_lines: LogLines,
    capsys: pytest.CaptureFixture[str],
    make_token: Callable[[], str],
    outcome: str,
    where: str,
) -> None:
    token = make_token()
    event = (
        with_token(token)
        if where == "query"
        else authorizer_event(headers={"Authorization": f"Bearer {token}"})
    )
    try:
        authorize(event)
    except Exception as error:
        assert str(error) == "Unauthorized"
    [line] = authorization_lines(log_lines())
    assert line["message"] == "authorization"
    assert line["outcome"].startswith(outcome)
    assert line["connectionId"] == CONNECTION_ID
    assert line["requestId"] == REQUEST_ID
    assert isinstance(line["durationMs"], int | float)
    written = json.dumps(log_lines(), ensure_ascii=False) + "".join(capsys.readouterr())
    for part in [token, *[segment for segment in token.split(".") if len(segment) > 8]]:
        assert part not in written
    assert SECRET not in written


# -- the secret and the configuration -------------------------------------------------------


def test_the_secret_is_read_once_per_container(secret_reads: list[str]) -> None:
    authorize(with_token(hs256(payload())))
    unauthorized(with_token(BAD_HS256_TOKENS["forged_signature"]()))
    unauthorized(authorizer_event())
    authorize(with_token(hs256(payload())))
    assert secret_reads == [SECRET_NAME]
    authorizer.reset()  # a new container
    authorize(with_token(hs256(payload())))
    assert secret_reads == [SECRET_NAME, SECRET_NAME]


_COGNITO = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        ({"TOKEN_ISSUER": None}, "TOKEN_ISSUER"),
        ({"TOKEN_ISSUER": "  "}, "TOKEN_ISSUER"),
        ({"TOKEN_AUDIENCE": None}, "TOKEN_AUDIENCE"),
        ({"TOKEN_SECRET_ID": None}, "TOKEN_SECRET_ID"),
        ({"TOKEN_SECRET_ID": None}, "JWKS_URL"),
        ({"TOKEN_SECRET_ID": None, "JWKS_URL": "http://example.com/jwks"}, "JWKS_URL"),
        ({"TOKEN_SECRET_ID": None, "JWKS_URL": "ftp://127.0.0.1/jwks"}, "JWKS_URL"),
        ({"ALLOW_ANONYMOUS": "yes"}, "ALLOW_ANONYMOUS"),
        pytest.param(
            {"JWKS_URL": _COGNITO, "TOKEN_ALGORITHMS": "RS256"},
            "JWKS_URL",
            id="both_secret_and_jwks",
        ),
        pytest.param(
            {
                "TOKEN_SECRET_ID": None,
                "TOKEN_ALGORITHMS": "RS256",
                "JWKS_URL": "http://127.0.0.1.evil.example/jwks",
            },
            "JWKS_URL",
            id="jwks_loopback_prefix_host",
        ),
        pytest.param(
            {
                "TOKEN_SECRET_ID": None,
                "TOKEN_ALGORITHMS": "RS256",
                "JWKS_URL": "http://127.0.0.1@evil.example/jwks",
            },
            "JWKS_URL",
            id="jwks_loopback_userinfo",
        ),
        pytest.param(
            {"TOKEN_ALGORITHMS": "none"},
            "TOKEN_ALGORITHMS",
            id="algorithms_none",
        ),
        pytest.param(
            {"TOKEN_ALGORITHMS": "HS256,RS256"},
            "TOKEN_ALGORITHMS",
            id="algorithms_mixed",
        ),
        pytest.param(
            {"TOKEN_ALGORITHMS": ""},
            "TOKEN_ALGORITHMS",
            id="algorithms_empty",
        ),
        pytest.param(
            {"TOKEN_ALGORITHMS": "RS256"},
            "JWKS_URL",
            id="rs256_without_jwks",
        ),
    ],
)
def test_a_configuration_error_names_the_variable(
    secret_reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, str | None],
    variable: str,
) -> None:
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        authorize(authorizer_event())
    assert variable in str(caught.value)
    assert secret_reads == []


@pytest.mark.parametrize(
    "changes",
    [{"TOKEN_ISSUER": None}, {"TOKEN_SECRET_ID": "no-such-secret"}],
    ids=["config_error", "secret_missing"],
)
def test_a_call_that_fails_is_not_logged_as_allowed(
    secret_reads: list[str],
    log_lines: LogLines,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, str | None],
) -> None:
    for name, value in changes.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(Exception):  # noqa: B017 - ConfigError or botocore's ClientError
        authorize(with_token(hs256(payload())))
    [line] = authorization_lines(log_lines())
    assert line["outcome"] != "allow"
    # Not a refusal but a failure: at ERROR, where alarms look.
    assert (line["outcome"], line["level"]) == ("error", "ERROR")


# -- RS256 through a JWKS --------------------------------------------------------------------


def test_an_rs256_token_from_the_jwks(jwks: JwksServer, secret_reads: list[str]) -> None:
    assert authorize(with_token(RSA_1.sign(payload()))) == allow_policy(SUBJECT, ADA_CONTEXT)
    assert secret_reads == [], "JWKS mode needs no shared secret"


@pytest.mark.parametrize(
    "make_token",
    [
        lambda: RSA_2.sign(payload()),
        lambda: RSA_2.sign(payload(), kid=RSA_1.kid),
        lambda: hs256(payload()),
        key_confusion,
        lambda: RSA_1.sign(payload(aud="someone-elses-app")),
    ],
    ids=["unknown_kid", "wrong_key_for_kid", "hs256", "hs_rs_key_confusion", "wrong_audience"],
)
def test_bad_jwks_tokens_are_unauthorized(jwks: JwksServer, make_token: Callable[[], str]) -> None:
    unauthorized(with_token(make_token()))


def test_an_unreachable_jwks_is_an_authorizer_error_not_unauthorized(
    jwks: JwksServer,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: LogLines,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """API Gateway answers an authorizer's error with 500 and only `Unauthorized` with 401:
    the token may be good, so the client must not be told to drop it."""
    token = RSA_1.sign(payload())
    with unreachable_jwks_url() as url:
        monkeypatch.setenv("JWKS_URL", url)
        with pytest.raises(KeysUnavailable) as caught:
            authorize(with_token(token))
    assert str(caught.value) != "Unauthorized"
    assert not isinstance(caught.value, authorizer.Unauthorized)
    [line] = authorization_lines(log_lines())
    assert line["level"] == "ERROR"
    assert line["outcome"].startswith("keys_unavailable: the JWKS URL did not answer: ")
    written = json.dumps(log_lines(), ensure_ascii=False) + "".join(capsys.readouterr())
    written += str(caught.value)
    for part in [token, *[segment for segment in token.split(".") if len(segment) > 8]]:
        assert part not in written


def test_a_kid_whose_key_does_not_fit_the_alg_is_unauthorized(
    jwks: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN_ALGORITHMS", "RS256,ES256")
    jwks.serve(RSA_1, EC_1)
    unauthorized(with_token(EC_1.sign(payload(), kid=RSA_1.kid)))


def test_a_key_removed_from_the_jwks_is_refused_once_the_cached_set_expires(
    jwks: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    jwks.serve(RSA_1, RSA_2)
    token = RSA_1.sign(payload())
    assert authorize(with_token(token))["principalId"] == SUBJECT
    jwks.serve(RSA_2)  # the provider revokes rsa-1
    # Five minutes on, for the JWK set cache only (PyJWKClient's lifespan is 300 s).
    later = time.monotonic() + 301
    monkeypatch.setattr(jwt.jwk_set_cache, "time", types.SimpleNamespace(monotonic=lambda: later))
    assert authorize(with_token(RSA_2.sign(payload())))["principalId"] == SUBJECT
    unauthorized(with_token(token))
