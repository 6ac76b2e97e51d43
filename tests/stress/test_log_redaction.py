"""Logs never hold a token, and hold a message body only as the preview the stack allows.

In process, hypothesis drives the functions with bodies of every kind under previews from 0
(the default: no body at all) to the maximum, and the authorizer and `$connect` with tokens of
every kind in the query string and the Authorization header; each 12-character window of a
secret placed past the preview (and of each token) must be absent from every log line.

Through the real gateway (tests/stress/conftest.py: DEBUG logging, a 16-character preview),
the same with real tokens and clients; and, since the gateway has served every hostile test
of the session by then, its whole log is checked for tokens, the token secret and previews
longer than allowed.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus

from switchboard import runtime
from switchboard.config import MAX_LOG_PREVIEW_CHARS
from switchboard.handlers import authorizer
from tests.integration.async_test import async_test
from tests.integration.local_gateway import LocalGateway
from tests.integration.ws_clients import client, receive_json, url
from tests.plugins.stress_report import Record
from tests.stress.conftest import HOSTILE_PREVIEW_CHARS
from tests.stress.hostile_values import INJECTIONS, hostile_text, json_values, utf8_safe
from tests.stress.moto_account import captured_logs, moto_account
from tests.stress.property_run import recorded, scenario_row
from tests.stress.real_users import SECRET, token, unique
from tests.support.events import (
    connect_event,
    connection_id,
    disconnect_event,
    load_event,
    message_event,
)
from tests.support.stack import route_handler, select_route
from tests.support.tokens import AUDIENCE, ISSUER, OTHER_SECRET, hs256, payload
from tests.support.tokens import SECRET as TOKEN_SECRET

PROPERTY = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WINDOW = 12


def windows(secret: str, size: int = WINDOW) -> list[str]:
    """Every `size`-character piece of `secret`: a partial leak is a leak too."""
    return [secret[i : i + size] for i in range(0, max(1, len(secret) - size + 1))]


def leaked(secret: str, written: str) -> list[str]:
    return [piece for piece in windows(secret) if piece in written]


def marker() -> str:
    return "SECRET" + uuid.uuid4().hex + uuid.uuid4().hex


# ------------------------------------------------------------------ bodies, in process

previews = st.sampled_from([0, 0, 1, 8, HOSTILE_PREVIEW_CHARS, 64, MAX_LOG_PREVIEW_CHARS])


@st.composite
def bodies_with_a_secret(draw: st.DrawFn, preview: int, secret: str) -> str:
    """A body whose first `preview` characters cannot reach the secret placed after them."""
    pad = "p" * preview
    if draw(st.booleans()):
        data = draw(json_values.filter(lambda v: utf8_safe(json.dumps(v, ensure_ascii=False))))
        action = draw(st.sampled_from(["sendmessage", "join", "nope", "sendto"]))
        room = draw(st.sampled_from(["lobby", "dev", "private:x", "bad room"]))
        return json.dumps(
            {"action": action, "pad": pad, "room": room, "to": "u-x", "data": [data, secret]}
        )
    text = pad + draw(hostile_text) + secret + draw(hostile_text)
    # A text frame is UTF-8: API Gateway never hands a function a lone surrogate.
    return text if utf8_safe(text) else pad + secret


def test_bodies_are_logged_only_as_the_configured_preview(stress_report: Record) -> None:
    guest, user = connection_id(1), connection_id(2)
    tried: Counter[str] = Counter()
    connect, chat = route_handler("$connect"), route_handler("$default")
    with moto_account() as _, captured_logs("switchboard") as lines:
        assert connect(connect_event(guest, {"name": "g"}), None)["statusCode"] == 200
        assert connect(connect_event(user, {"name": "u"}), None)["statusCode"] == 200

        @PROPERTY
        @given(preview=previews, data=st.data())
        def run(preview: int, data: st.DataObject) -> None:
            secret = marker()
            body = data.draw(bodies_with_a_secret(preview, secret))
            os.environ["LOG_PREVIEW_CHARS"] = str(preview)
            runtime.reset()  # configuration is read once per container: a new container
            before = len(lines())
            sender = data.draw(st.sampled_from([guest, user, connection_id(99)]))
            event = message_event(sender, body, select_route(body))
            response = chat(event, None)
            written = lines()[before:]
            [line] = [entry for entry in written if entry["message"] == "invocation"]
            assert line["requestId"] == event["requestContext"]["requestId"]
            if preview:
                assert line["bodyPreview"] == body[:preview]
            else:
                assert "bodyPreview" not in line
            assert leaked(secret, json.dumps(written, ensure_ascii=False)) == []
            tried[f"preview {preview}"] += 1
            assert response["statusCode"] in {200, 400, 403, 404, 410}

        try:
            recorded(
                stress_report,
                "log redaction: bodies (functions)",
                "hostile bodies under LOG_PREVIEW_CHARS 0 (default) to 256, a 70-char secret "
                "placed past the preview",
                tried,
                run,
                extra=lambda: (
                    "bodyPreview exactly the first N chars, none at 0; no 12-char "
                    "piece of a secret in any line"
                ),
            )
        finally:
            os.environ.pop("LOG_PREVIEW_CHARS", None)


# ------------------------------------------------------------------ tokens, in process

SECRET_NAME = "switchboard-stress/token-secret"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/$connect"


@st.composite
def tokens(draw: st.DrawFn) -> tuple[str, str]:
    """(kind, token): valid, forged, expired, wrong audience, or garbage around a marker."""
    kind = draw(st.sampled_from(["valid", "forged", "expired", "audience", "garbage"]))
    name = draw(st.sampled_from(INJECTIONS) | st.text(max_size=30))
    claims = payload(sub=unique("u"), name=name, iss=ISSUER, aud=AUDIENCE)
    if kind == "valid":
        return kind, hs256(claims, TOKEN_SECRET)
    if kind == "forged":
        return kind, hs256(claims, OTHER_SECRET)
    if kind == "expired":
        return kind, hs256({**claims, "exp": 1_000_000}, TOKEN_SECRET)
    if kind == "audience":
        return kind, hs256({**claims, "aud": "elsewhere"}, TOKEN_SECRET)
    return kind, draw(st.text(max_size=20)) + marker() + draw(st.text(max_size=20))


def authorizer_event(token_value: str, where: str) -> dict[str, Any]:
    event = load_event("connect")
    event.update(type="REQUEST", methodArn=METHOD_ARN, stageVariables={})
    if where == "query":
        event["queryStringParameters"] = {"token": token_value, "name": "x"}
        event["multiValueQueryStringParameters"] = {"token": [token_value], "name": ["x"]}
    else:
        event["headers"]["Authorization"] = f"Bearer {token_value}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {token_value}"]
    return event


def test_tokens_never_reach_the_logs(stress_report: Record) -> None:
    tried: Counter[str] = Counter()
    environment = {
        "TOKEN_SECRET_ID": SECRET_NAME,
        "TOKEN_ISSUER": ISSUER,
        "TOKEN_AUDIENCE": AUDIENCE,
        "TOKEN_ALGORITHMS": "HS256",
        "ALLOW_ANONYMOUS": "false",
        "LOG_PREVIEW_CHARS": str(MAX_LOG_PREVIEW_CHARS),
    }
    numbers = iter(range(10_000, 1_000_000))
    connect, disconnect = route_handler("$connect"), route_handler("$disconnect")
    with moto_account(**environment) as _:
        boto3.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=TOKEN_SECRET)
        authorizer.reset()
        with captured_logs("switchboard", "switchboard.authorizer") as lines:

            @PROPERTY
            @given(case=tokens(), where=st.sampled_from(["query", "header"]))
            def run(case: tuple[str, str], where: str) -> None:
                kind, token_value = case
                before = len(lines())
                event = authorizer_event(token_value, where)
                cid = connection_id(next(numbers))
                event["requestContext"]["connectionId"] = cid
                try:
                    policy = authorizer.handler(event, None)
                except Exception as error:
                    assert str(error) == "Unauthorized" and kind != "valid", (kind, error)
                    outcome = "refused"
                else:
                    assert kind == "valid", (kind, policy)
                    outcome = "allowed"
                    # API Gateway hands $connect the whole request, token included.
                    connected = connect_event(cid, event.get("queryStringParameters"))
                    connected["headers"] = event["headers"]
                    connected["requestContext"]["authorizer"] = {
                        **policy["context"],
                        "principalId": policy["principalId"],
                    }
                    assert connect(connected, None)["statusCode"] == 200
                    assert disconnect(disconnect_event(cid, policy["context"]), None)
                written = json.dumps(lines()[before:], ensure_ascii=False)
                for secret in [token_value, *token_value.split(".")]:
                    if len(secret) >= WINDOW:
                        assert leaked(secret, written) == [], (kind, where)
                assert TOKEN_SECRET not in written
                tried[f"{kind} in the {where}: {outcome}"] += 1

            recorded(
                stress_report,
                "log redaction: tokens (functions)",
                "valid, forged, expired, wrong-audience and garbage tokens in ?token= and "
                "Authorization: Bearer, through the authorizer, $connect and $disconnect",
                tried,
                run,
                extra=lambda: "no 12-char piece of a token or the secret in any line",
            )
    authorizer.reset()


# ------------------------------------------------------------------- the real gateway


@async_test(timeout=90)
async def test_the_real_gateways_log_holds_no_token_and_only_previews(
    hostile_gateway: LocalGateway, stress_report: Record
) -> None:
    room = unique("private:logs")
    secrets: dict[str, str] = {}
    bodies: list[str] = []
    injected = (
        "tokens in ?token= and Authorization: Bearer (valid, forged), bodies of 2-125 KB "
        "with a secret past the preview, to a gateway at DEBUG with LogPreviewChars=16"
    )
    with scenario_row(stress_report, "log redaction: the real gateway", injected) as row:
        ada_token = token(unique("u-ada"), "Ada", (room,))
        bob_id = unique("u-bob")
        bob_token = token(bob_id, "Bob")
        forged = ada_token.rsplit(".", 1)[0] + "." + "A" * 43
        secrets.update(ada=ada_token, bob=bob_token, forged=forged)
        headers = {"Authorization": f"Bearer {bob_token}"}
        async with (
            client(url(hostile_gateway.stage_url, token=ada_token)) as ada,
            client(hostile_gateway.stage_url, additional_headers=headers) as bob,
        ):
            for size, message in (
                (2_000, {"action": "sendmessage", "room": "lobby"}),
                (20_000, {"action": "sendto", "to": bob_id}),
                (20_000, {"action": "join", "room": room}),
                # Within the 128 KB a message may have, but too large to deliver: refused.
                (125_000, {"action": "sendmessage", "room": "lobby"}),
            ):
                secret = marker()
                secrets[f"body {len(bodies)}"] = secret
                body = json.dumps({**message, "data": "x" * 40 + secret + "y" * size})
                bodies.append(body)
                await ada.send(body if len(body) < 30_000 else iter(_in_frames(body)))
                await _reply(ada)
            secret = marker()
            secrets["not json"] = secret
            bodies.append(f"not json {secret}")
            await ada.send(bodies[-1])
            assert (await _reply(ada))["error"] == "invalid_json"
            with pytest.raises(InvalidStatus):
                async with client(url(hostile_gateway.stage_url, token=forged)):
                    pass
            assert bob.protocol.state.name == "OPEN", "a header token connects too"
        stderr = hostile_gateway.stderr()
        for name, secret in secrets.items():
            pieces = [secret, *secret.split(".")] if "." in secret else [secret]
            for piece in pieces:
                assert leaked(piece, stderr) == [], f"{name} is in the gateway's log"
        assert SECRET not in stderr, "the token secret is in the gateway's log"
        assert "token=" not in stderr and "Bearer " not in stderr
        previews = [line["bodyPreview"] for line in _json_lines(stderr) if "bodyPreview" in line]
        for body in bodies:
            assert body[:HOSTILE_PREVIEW_CHARS] in previews, body[:40]
        longest = max(len(text) for text in previews)
        assert longest <= HOSTILE_PREVIEW_CHARS, f"a {longest}-character preview"
        row.append(
            f"{len(secrets)} secrets (3 tokens, {len(bodies)} bodies) absent; {len(previews)} "
            f"previews in the session's log, none over {HOSTILE_PREVIEW_CHARS} chars; no "
            "token=, Bearer or token secret anywhere in it"
        )


def _in_frames(body: str) -> list[str]:
    """A message as fragments of at most 30 KB (one frame may carry 32 KB)."""
    return [body[i : i + 30_000] for i in range(0, len(body), 30_000)]


def _json_lines(text: str) -> list[dict[str, Any]]:
    """The functions' JSON log lines among the gateway's own."""
    found = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


async def _reply(ws: Any) -> dict[str, Any]:
    """The next frame that is a reply (not presence or a message from others)."""
    while True:
        frame: dict[str, Any] = await receive_json(ws)
        if frame.get("type") in {"sent", "error", "joined"} and (
            frame["type"] != "joined" or "messages" in frame
        ):
            return frame
