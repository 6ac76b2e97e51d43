"""Room history: the stored item, pages oldest..newest, cursors, retention, JSON round trips."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from switchboard.errors import BadRequest
from switchboard.history import (
    JOIN_HISTORY,
    MAX_PAGE,
    PAGE_BYTES,
    History,
    HistoryPage,
    decode_cursor,
    encode_cursor,
)
from switchboard.protocol import encode
from tests.support.events import connection_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import QueryOutputTypeDef

Items = Callable[[], list[dict[str, Any]]]
ADA = connection_id(1)
WEEK = 7 * 86400
#: 2026-11-28T01:47:12.345Z, in milliseconds, as `ts` is.
T0 = 1795830432345
ADA_FROM = {"connectionId": ADA, "name": "ada", "userId": "u-ada"}
DEFAULT = object()


def envelope(
    number: int,
    *,
    room: str = "dev",
    ts: int | None = None,
    data: Any = DEFAULT,
    sender: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `{"type":"message",...}` that send_to_room stores: message `number` of a room."""
    return {
        "type": "message",
        "room": room,
        "from": dict(ADA_FROM if sender is None else sender),
        "data": f"message {number}" if data is DEFAULT else data,
        "id": f"{number:032x}",
        "ts": T0 + number if ts is None else ts,
    }


@pytest.fixture
def history(db: DynamoDBClient, table: str) -> History:
    return History(db, table, WEEK)


def fill(history: History, count: int, room: str = "dev") -> list[dict[str, Any]]:
    """Append messages 0..count-1 to the room; returns them oldest first."""
    sent = [envelope(n, room=room) for n in range(count)]
    for message in sent:
        history.append(message)
    return sent


def sort_key(message: dict[str, Any]) -> str:
    return f"{message['ts']:013d}#{message['id']}"


def test_the_limits() -> None:
    assert (MAX_PAGE, JOIN_HISTORY) == (100, 20)


def test_append_stores_one_item_in_the_rooms_partition(history: History, items: Items) -> None:
    message = envelope(1, data={"text": "hi"})
    history.append(message)
    assert items() == [
        {
            "PK": {"S": "MSG#dev"},
            "SK": {"S": f"{T0 + 1:013d}#{1:032x}"},
            "id": {"S": f"{1:032x}"},
            "ts": {"N": str(T0 + 1)},
            "from": {
                "M": {
                    "connectionId": {"S": ADA},
                    "name": {"S": "ada"},
                    "userId": {"S": "u-ada"},
                }
            },
            "data": {"S": '{"text": "hi"}'},
            "expiresAt": {"N": str((T0 + 1) // 1000 + WEEK)},
        }
    ]


@pytest.mark.parametrize("retention", [1, 86400, WEEK, 3650 * 86400])
def test_expires_at_is_epoch_seconds_plus_the_retention(
    db: DynamoDBClient, table: str, items: Items, retention: int
) -> None:
    History(db, table, retention).append(envelope(0, ts=T0))
    [item] = items()
    assert item["expiresAt"] == {"N": str(T0 // 1000 + retention)}
    assert T0 // 1000 == 1795830432, "seconds, not milliseconds"


def test_a_first_page_is_the_newest_oldest_first(history: History) -> None:
    sent = fill(history, 30)
    assert history.page("dev", JOIN_HISTORY).messages == sent[-JOIN_HISTORY:]
    assert history.page("dev", 3).messages == sent[27:]
    assert history.page("dev", 100).messages == sent


def test_a_page_is_oldest_to_newest_with_the_cursor_before_its_oldest(history: History) -> None:
    sent = fill(history, 5)
    page = history.page("dev", 3)
    assert page == HistoryPage(sent[2:], encode_cursor("dev", sort_key(sent[2])))
    assert history.page("dev", 3, page.next) == HistoryPage(sent[:2], None)


def test_a_page_of_large_messages_stops_where_the_reply_would_pass_128_kb(
    history: History,
) -> None:
    # 20 messages of ~30 KB: 600 KB, far over one WebSocket message (128 KB).
    sent = [envelope(n, data="x" * 30_000) for n in range(20)]
    for message in sent:
        history.append(message)

    first = history.page("dev", MAX_PAGE)

    assert first.messages == sent[-4:], "the newest that fit"
    assert sum(len(encode(m)) + 1 for m in first.messages) <= PAGE_BYTES
    assert first.next == encode_cursor("dev", sort_key(sent[-4]))
    assert len(encode({"type": "history", "room": "dev", **vars(first)})) < 128 * 1024
    # Following the cursors reads every message once, oldest first.
    pages = [first]
    while pages[-1].next is not None:
        pages.append(history.page("dev", MAX_PAGE, pages[-1].next))
    assert [m for page in reversed(pages) for m in page.messages] == sent
    assert history.page("dev", JOIN_HISTORY).messages == sent[-4:], "and so is a join's"


def test_one_message_larger_than_the_budget_still_comes_back(history: History) -> None:
    history.append(envelope(0, data="y" * 130_000))
    history.append(envelope(1, data="z" * 130_000))
    page = history.page("dev", MAX_PAGE)
    assert [m["id"] for m in page.messages] == [f"{1:032x}"]
    assert history.page("dev", MAX_PAGE, page.next).messages[0]["id"] == f"{0:032x}"


def test_an_empty_room(history: History) -> None:
    assert history.page("dev", MAX_PAGE) == HistoryPage([], None)
    assert history.page("dev", JOIN_HISTORY).messages == []


def test_a_page_ending_exactly_at_the_oldest_message_has_no_next(history: History) -> None:
    sent = fill(history, 6)
    first = history.page("dev", 3)
    assert first.messages == sent[3:]
    assert history.page("dev", 3, first.next) == HistoryPage(sent[:3], None)
    assert history.page("dev", 6) == HistoryPage(sent, None)


class StopsAtLimit:
    """The client, but Query answers as DynamoDB does: LastEvaluatedKey whenever Limit is hit.

    moto (and the local gateway's fast path) set it only when more items follow.
    """

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def query(self, **kwargs: Any) -> QueryOutputTypeDef:
        response = self._client.query(**kwargs)
        items = response.get("Items", [])
        if items and len(items) == kwargs.get("Limit"):
            response["LastEvaluatedKey"] = {"PK": items[-1]["PK"], "SK": items[-1]["SK"]}
        return response


def test_no_next_at_the_oldest_message_when_dynamodb_stops_at_the_limit(
    db: DynamoDBClient, table: str
) -> None:
    history = History(StopsAtLimit(db), table, WEEK)  # type: ignore[arg-type]
    sent = [envelope(n) for n in range(6)]
    for message in sent:
        History(db, table, WEEK).append(message)
    first = history.page("dev", 3)
    assert first.messages == sent[3:]
    assert first.next is not None
    assert history.page("dev", 3, first.next) == HistoryPage(sent[:3], None)
    assert history.page("dev", 6) == HistoryPage(sent, None)


def test_next_pages_back_through_more_than_a_hundred_without_gaps_or_repeats(
    history: History,
) -> None:
    # Several messages in one millisecond: the id orders them, and no cursor splits them.
    sent = [envelope(n, ts=T0 + n // 3) for n in range(250)]
    for message in sent:
        history.append(message)
    in_order = sorted(sent, key=sort_key)
    pages: list[HistoryPage] = [history.page("dev", MAX_PAGE)]
    while pages[-1].next is not None:
        pages.append(history.page("dev", MAX_PAGE, pages[-1].next))
    assert [len(page.messages) for page in pages] == [100, 100, 50]
    assert [page.messages for page in pages] == [in_order[150:], in_order[50:150], in_order[:50]]
    read = [m["id"] for page in reversed(pages) for m in page.messages]
    assert read == [m["id"] for m in in_order]
    assert len(set(read)) == 250


@pytest.mark.parametrize("limit", [1, 7, 29, 30])
def test_any_page_size_reads_everything_once(history: History, limit: int) -> None:
    sent = fill(history, 30)
    read: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = history.page("dev", limit, cursor)
        assert 1 <= len(page.messages) <= limit
        read = page.messages + read
        if page.next is None:
            break
        cursor = page.next
    assert read == sent


def test_rooms_do_not_share_history(history: History) -> None:
    dev = fill(history, 3, room="dev")
    ops = fill(history, 2, room="ops")
    assert history.page("dev", MAX_PAGE) == HistoryPage(dev, None)
    assert history.page("ops", MAX_PAGE) == HistoryPage(ops, None)
    assert history.page("dev-2", MAX_PAGE) == HistoryPage([], None)


def test_retention_zero_turns_history_off(db: DynamoDBClient, table: str, items: Items) -> None:
    history = History(db, table, 0)
    assert not history.enabled
    history.append(envelope(1))
    assert items() == []
    assert history.page("dev", MAX_PAGE) == HistoryPage([], None)
    assert history.page("dev", JOIN_HISTORY).messages == []
    assert History(db, table, 1).enabled


JSON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -17,
    2**63 + 1,
    1.5,
    -0.25,
    1e-7,
    6.02e23,
    "",
    "héllo ✓ 日本語 🎉",
    '"quoted" \\ back\\slash \n newline \u0000 nul',
    [],
    {},
    [1, "two", None, [3.0, {"four": [True]}]],
    {"nested": {"deeper": {"deepest": [{"a": None}, {"b": "ü"}]}}, "n": 1},
    {"from": {"userId": "u-bob"}, "type": "direct"},
]


@pytest.mark.parametrize("data", JSON_VALUES, ids=[json.dumps(v)[:30] for v in JSON_VALUES])
def test_data_comes_back_as_it_was_sent(history: History, data: Any) -> None:
    history.append(envelope(1, data=data))
    [message] = history.page("dev", JOIN_HISTORY).messages
    assert message == envelope(1, data=data)
    # Equal is not enough (1 == 1.0 == True): the JSON text must match too.
    assert json.dumps(message["data"]) == json.dumps(data)


def test_the_sender_comes_back_with_its_guest_flag(history: History) -> None:
    guest = {"connectionId": ADA, "name": "guest-1a2b3c", "userId": f"guest:{ADA}", "guest": True}
    history.append(envelope(1, sender=guest))
    history.append(envelope(2))
    assert [m["from"] for m in history.page("dev", JOIN_HISTORY).messages] == [guest, ADA_FROM]


def test_a_service_sender_comes_back_as_a_service_without_a_connection(
    history: History, items: Items
) -> None:
    service = {"name": "Billing", "userId": "svc-billing", "service": True}
    history.append(envelope(1, sender=service))
    history.append(envelope(2))
    assert [m["from"] for m in history.page("dev", JOIN_HISTORY).messages] == [service, ADA_FROM]
    [stored] = [
        i["from"]["M"]
        for i in items()
        if i["id"]["S"] == history.page("dev", JOIN_HISTORY).messages[0]["id"]
    ]
    assert "connectionId" not in stored


# ---------------------------------------------------------------------------------- cursors


def raw_cursor(value: Any) -> str:
    """A cursor as a client could forge one: any JSON, base64url without padding."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_cursor_round_trips_in_its_own_room() -> None:
    key = f"{T0:013d}#{7:032x}"
    cursor = encode_cursor("private:x", key)
    assert "=" not in cursor
    assert decode_cursor("private:x", cursor) == key


def test_a_cursor_of_room_a_is_refused_in_room_b(history: History) -> None:
    fill(history, 5, room="a")
    fill(history, 5, room="b")
    cursor = history.page("a", 2).next
    assert cursor is not None
    with pytest.raises(BadRequest) as raised:
        history.page("b", 2, cursor)
    assert str(raised.value) == '"before" is not a history cursor of room "b"'
    assert raised.value.code == "bad_request"


def test_a_cursor_naming_room_a_never_reads_room_b(history: History) -> None:
    """Labelled with the asked room but carrying b's key: still only a's partition is read."""
    a = fill(history, 3, room="a")
    b = [envelope(n, room="b") for n in range(10, 15)]
    for message in b:
        history.append(message)
    forged = raw_cursor({"room": "a", "before": sort_key(b[-1])})
    assert history.page("a", MAX_PAGE, forged) == HistoryPage(a, None)


NOT_A_STRING = '"before" must be a cursor string from an earlier history reply'
NOT_A_CURSOR = '"before" is not a valid history cursor'
NOT_THIS_ROOMS = '"before" is not a history cursor of room "dev"'


@pytest.mark.parametrize(
    ("cursor", "message"),
    [
        (42, NOT_A_STRING),
        (["x"], NOT_A_STRING),
        ({"room": "dev"}, NOT_A_STRING),
        ("", NOT_A_STRING),
        ("A" * 513, NOT_A_STRING),
        ("%%%", NOT_A_CURSOR),
        ("a", NOT_A_CURSOR),
        ("é", NOT_A_CURSOR),
        (base64.urlsafe_b64encode(b"\x80\x81\xfe").decode(), NOT_A_CURSOR),
        (raw_cursor("dev"), NOT_THIS_ROOMS),
        (raw_cursor([1, 2]), NOT_THIS_ROOMS),
        (raw_cursor({"before": f"{T0:013d}#{0:032x}"}), NOT_THIS_ROOMS),
        (raw_cursor({"room": "dev"}), NOT_THIS_ROOMS),
        (raw_cursor({"room": "dev", "before": 1795830432345}), NOT_THIS_ROOMS),
        (raw_cursor({"room": "dev", "before": "9999999999999"}), NOT_THIS_ROOMS),
        (raw_cursor({"room": "dev", "before": f"{T0:013d}#{0:031x}"}), NOT_THIS_ROOMS),
        (raw_cursor({"room": "dev", "before": f"{T0:013d}#{0xABCDEF:032X}"}), NOT_THIS_ROOMS),
        (raw_cursor({"room": "dev", "before": f"{T0:013d}#{0:032x}\n"}), NOT_THIS_ROOMS),
        (raw_cursor({"room": "DEV", "before": f"{T0:013d}#{0:032x}"}), NOT_THIS_ROOMS),
    ],
    ids=[
        "number",
        "array",
        "object",
        "empty",
        "513 characters",
        "not base64",
        "one character",
        "not ascii",
        "not utf-8",
        "a json string",
        "a json array",
        "no room",
        "no key",
        "key a number",
        "key without id",
        "id too short",
        "id upper case",
        "trailing newline",
        "room of another case",
    ],
)
def test_garbage_and_forged_cursors_are_bad_requests(cursor: Any, message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        decode_cursor("dev", cursor)
    assert str(raised.value) == message
