"""Arbitrary events to the template's handlers, in process over moto: never a crash.

Each run keeps one moto account for all its examples, with a few connections that live
throughout (guests, a user granted a private room, a user who is not), so hostile events
meet real state: rooms with members and history. After every example the handler has
returned a proper proxy response (a clear error for anything wrong), a refused event has
changed nothing, and the table's invariants hold (tests/stress/table_invariants.py).

Events API Gateway can send (any body, any connection id, any route key, any identity the
authorizer can produce) must get a protocol answer. Events it never sends (requestContext
missing or of the wrong type, ids too long for a key) get `400 bad_request` "malformed
event: ..." and one log line instead of a traceback: a misconfigured integration or a
hand-written test event should be told what is wrong, cheaply.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from switchboard.identity import Identity
from switchboard.protocol import ACTIONS
from tests.plugins.stress_report import Record
from tests.stress.hostile_values import bodies, hostile_text, json_values, nested
from tests.stress.moto_account import moto_account, table_items
from tests.stress.property_run import recorded
from tests.stress.table_invariants import violations
from tests.support.events import (
    authorizer_context,
    connect_event,
    connection_id,
    disconnect_event,
    load_event,
    message_event,
)
from tests.support.stack import Stack, route_handler, select_route

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

EXAMPLES = 150
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GUEST, ADA, BOB = connection_id(1), connection_id(2), connection_id(3)
ADA_CONTEXT = authorizer_context("u-ada", "ada", ["private:ops"])
BOB_CONTEXT = authorizer_context("u-bob", "bob")
CONTEXTS: dict[str, dict[str, str] | None] = {GUEST: None, ADA: ADA_CONTEXT, BOB: BOB_CONTEXT}
ERROR_CODES = {"bad_request", "invalid_json", "unknown_action", "forbidden", "not_found"}
ERROR_STATUS = {"bad_request": 400, "invalid_json": 400, "unknown_action": 400}
#: Every route of the chat function and anything else a misrouted integration might pass.
ROUTE_KEYS = st.one_of(st.sampled_from(["$default", *ACTIONS]), st.text(min_size=1, max_size=30))


@pytest.fixture
def account() -> Iterator[DynamoDBClient]:
    """guest, ada (granted private:ops) and bob, each in the lobby and dev, with history."""
    with moto_account() as client:
        stack = Stack()
        assert stack.connect(GUEST, name="guest")["statusCode"] == 200
        assert stack.connect_as(ADA, "u-ada", "ada", rooms=["private:ops"])["statusCode"] == 200
        assert stack.connect_as(BOB, "u-bob", "bob")["statusCode"] == 200
        for cid in (GUEST, ADA, BOB):
            assert stack.send(cid, {"action": "join", "room": "dev"})["type"] == "joined"
            assert stack.send(cid, {"action": "sendmessage", "room": "dev", "data": cid})
        assert stack.send(ADA, {"action": "join", "room": "private:ops"})["type"] == "joined"
        assert stack.send(ADA, {"action": "sendmessage", "room": "private:ops", "data": "s"})
        yield client


def keyed(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["PK"]["S"], item["SK"]["S"]): item for item in items}


def check_proxy_response(response: Any, *, handshake: bool = False) -> dict[str, Any] | None:
    """A proxy response API Gateway can relay: a status, and a JSON text body if any.

    A refused handshake's body is `{"message": ...}`; a message route's is an error reply.
    """
    assert isinstance(response, dict), response
    assert set(response) <= {"statusCode", "body"}, response
    status = response["statusCode"]
    assert status in {200, 400, 403, 404, 410}, response
    if "body" not in response:
        return None
    body = response["body"]
    assert isinstance(body, str)
    body.encode("utf-8")  # text API Gateway can send in a frame: no lone surrogate
    reply: dict[str, Any] = json.loads(body)
    if status >= 400 and handshake:
        assert set(reply) == {"message"} and reply["message"], reply
    elif status >= 400:
        assert reply["type"] == "error", reply
        code = reply["error"]
        assert code in ERROR_CODES | {"not_connected"}, reply
        assert ERROR_STATUS.get(code, status) == status, reply
        assert isinstance(reply["message"], str) and reply["message"], reply
    return reply


@st.composite
def message_events(draw: st.DrawFn) -> dict[str, Any]:
    """A MESSAGE event as API Gateway could send it: any body, sender, route, identity."""
    known = draw(st.sampled_from([GUEST, ADA, BOB, None]))
    connection = known or draw(st.from_regex(r"[A-Za-z0-9_-]{15}=", fullmatch=True))
    body = draw(st.none() | bodies)
    route = draw(st.just(select_route(body)) | ROUTE_KEYS)
    # A connection's events carry the context its authorizer gave, and nothing else.
    return message_event(connection, body, route, CONTEXTS.get(connection))


def _known(connection: str, body: str) -> dict[str, Any]:
    return message_event(connection, body, select_route(body), CONTEXTS[connection])


def test_arbitrary_message_events_to_the_chat_function(
    account: DynamoDBClient, stress_report: Record
) -> None:
    chat = route_handler("$default")
    tried: Counter[str] = Counter()

    @PROPERTY
    @given(event=message_events())
    # What broke the handlers before: data that parses but cannot be encoded again.
    @example(event=_known(ADA, '{"action": "sendmessage", "data": "\\ud800"}'))
    @example(event=_known(ADA, '{"action": "sendto", "to": "u-bob", "data": {"\\udc00": 1}}'))
    @example(event=_known(BOB, '{"action": "sendmessage", "data": ' + nested(900, "[") + "}"))
    @example(event=_known(GUEST, '{"action": "sendmessage", "data": ' + nested(64, "{") + "}"))
    @example(
        event=_known(GUEST, '{"action": "join", "room": "dev", "x": ' + nested(990, "[") + "}")
    )
    def run(event: dict[str, Any]) -> None:
        before = keyed(table_items())
        response = chat(event, None)
        reply = check_proxy_response(response)
        after = keyed(table_items())
        status = response["statusCode"]
        tried[reply["error"] if reply and status >= 400 else f"{status}"] += 1
        if status >= 400:
            assert after == before, "a refused event changed the table"
        assert violations(after.values()) == []

    recorded(
        stress_report,
        "arbitrary events to the chat function",
        "MESSAGE events: random/deep (to 12,000 levels)/huge (to 384 KB) bodies, control "
        "chars, lone surrogates, spoofed identity fields, unknown ids, any routeKey",
        tried,
        run,
    )


#: Identities the authorizer can hand on: a token's sub, name and rooms, or a guest.
authorizer_contexts = st.one_of(
    st.none(),
    st.builds(
        lambda user_id, name, rooms: Identity(user_id, name, frozenset(rooms), False).to_context(),
        st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=128)
        .map(str.strip)
        .filter(lambda s: bool(s) and s.isprintable() and not s.startswith("guest:")),
        st.text(max_size=32).filter(str.isprintable) | st.none(),
        st.lists(st.from_regex(r"private:[a-z]{1,8}", fullmatch=True), max_size=3),
    ),
)


@st.composite
def connect_queries(draw: st.DrawFn) -> dict[str, str] | None:
    query: dict[str, str] = draw(st.dictionaries(st.text(max_size=10), hostile_text, max_size=3))
    if draw(st.booleans()):
        query["name"] = draw(hostile_text | st.text(min_size=30, max_size=40))
    return query or draw(st.sampled_from([None, {}]))


def test_connect_then_hostile_messages_then_disconnect_leave_nothing(
    account: DynamoDBClient, stress_report: Record
) -> None:
    """A fresh connection with any query string and identity, a few hostile messages, gone."""
    connect, disconnect = route_handler("$connect"), route_handler("$disconnect")
    chat = route_handler("$default")
    tried: Counter[str] = Counter()
    numbers = iter(range(1000, 1_000_000))

    # Each example connects, sends and disconnects: fewer of them, for the same few seconds.
    @settings(PROPERTY, max_examples=EXAMPLES // 2)
    @given(
        query=connect_queries(),
        context=authorizer_contexts,
        user_agent=st.text(max_size=8000) | st.none(),
        messages=st.lists(bodies, max_size=3),
    )
    def run(
        query: dict[str, str] | None,
        context: dict[str, str] | None,
        user_agent: str | None,
        messages: list[str],
    ) -> None:
        cid = connection_id(next(numbers))
        event = connect_event(cid, query, context)
        if user_agent is None:
            del event["requestContext"]["identity"]["userAgent"]
        else:
            event["requestContext"]["identity"]["userAgent"] = user_agent
        connected = connect(event, None)
        check_proxy_response(connected, handshake=True)
        assert connected["statusCode"] in {200, 400}, connected
        mine = {key for key in keyed(table_items()) if f"CONN#{cid}" in key}
        if connected["statusCode"] == 400:
            tried["refused name"] += 1
            assert mine == set(), "a refused handshake wrote records"
            return
        tried["connected"] += 1
        user = (context or {}).get("userId") or f"guest:{cid}"
        assert mine == {
            (f"CONN#{cid}", "META"),
            ("ROOM#lobby", f"CONN#{cid}"),
            (f"USER#{user}", f"CONN#{cid}"),
        }
        for body in messages:
            check_proxy_response(chat(message_event(cid, body, select_route(body), context), None))
        assert violations(table_items()) == []
        check_proxy_response(disconnect(disconnect_event(cid, context), None))
        left = {key for key in keyed(table_items()) if f"CONN#{cid}" in key}
        assert left == set(), f"$disconnect left {left}"
        assert violations(table_items()) == []

    recorded(
        stress_report,
        "arbitrary connections to the handlers",
        "$connect with any query string, user agent (to 8 KB) and authorizer identity, "
        "hostile messages, $disconnect",
        tried,
        run,
    )


# ----------------------------------------------------------- events API Gateway never sends

#: Where a field sits in an event, and what else it could (wrongly) hold.
FIELDS = (
    ("requestContext",),
    ("requestContext", "routeKey"),
    ("requestContext", "connectionId"),
    ("requestContext", "connectedAt"),
    ("requestContext", "requestTimeEpoch"),
    ("requestContext", "identity"),
    ("requestContext", "identity", "sourceIp"),
    ("requestContext", "authorizer"),
    ("requestContext", "requestId"),
    ("requestContext", "domainName"),
    ("requestContext", "disconnectStatusCode"),
    ("queryStringParameters",),
    ("headers",),
    ("body",),
)
DELETE = object()
wrong_values = st.one_of(
    st.just(DELETE),
    json_values,
    st.text(min_size=129, max_size=3000),
    st.sampled_from(["", "9" * 5000, "-1", "1.5"]),
)


CANNOT_RECORD = '{"message":"could not record the connection"}'


def _has_context(event: dict[str, Any]) -> bool:
    return isinstance(event.get("requestContext"), dict)


@st.composite
def malformed_events(draw: st.DrawFn) -> dict[str, Any]:
    """A fixture event with 1-3 fields deleted or replaced; `fixture` names which one."""
    kind = draw(st.sampled_from(["connect", "sendmessage", "join", "disconnect"]))
    event = load_event(kind)
    # A few ids, so that connects, messages and disconnects of one connection meet.
    event["requestContext"]["connectionId"] = connection_id(draw(st.integers(5000, 5012)))
    for path in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        parent: Any = event
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        value = draw(wrong_values)
        if value is DELETE:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    event["fixture"] = kind
    return event


def test_events_api_gateway_never_sends_get_a_clear_error(
    account: DynamoDBClient, stress_report: Record
) -> None:
    handlers = {
        kind: route_handler(route)
        for kind, route in (
            ("connect", "$connect"),
            ("sendmessage", "$default"),
            ("join", "$default"),
            ("disconnect", "$disconnect"),
        )
    }
    tried: Counter[str] = Counter()

    @PROPERTY
    @given(event=malformed_events())
    def run(event: dict[str, Any]) -> None:
        kind = event.pop("fixture")
        before = keyed(table_items())
        cid = event["requestContext"].get("connectionId") if _has_context(event) else None
        response = handlers[kind](event, None)
        reply = json.loads(response.get("body") or "{}")
        if str(reply.get("message")).startswith("malformed event: "):
            tried["malformed event"] += 1
            assert response["statusCode"] == 400
            assert reply["type"] == "error" and reply["error"] == "bad_request"
            assert keyed(table_items()) == before
        elif kind == "connect" and (f"CONN#{cid}", "META") in before:
            tried["id already connected"] += 1
            # A second $connect for a live id: refused, the first connection untouched.
            assert response == {"statusCode": 500, "body": CANNOT_RECORD}
            assert keyed(table_items()) == before
        else:
            check_proxy_response(response, handshake=kind == "connect")
            tried[f"{response['statusCode']} (well-formed after all)"] += 1
        assert violations(table_items()) == []

    recorded(
        stress_report,
        "events API Gateway never sends",
        "fixture events with requestContext fields deleted or of the wrong type "
        "(ids to 3,000 chars, 5,000-digit epochs, bodies that are not strings)",
        tried,
        run,
    )
