"""The chat page when things go wrong, and for people who use it without a mouse or a screen.

Against a real `switchboard local`, in Debian's chromium: connections the server drops, a network
that refuses reconnections or loses a reply (chat_page.SIMULATED_NETWORK, which changes what the
page's WebSockets meet, never the page), a token that expires while connected, a guest who takes
a user's name, a browser clock that is behind, the keyboard focus and what a screen reader is told.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
from playwright.sync_api import Browser, Locator, expect
from websockets.sync.client import ClientConnection, connect

from switchboard.history import JOIN_HISTORY
from switchboard.local.dev_secret import dev_secret
from switchboard.tokens import LEEWAY_SECONDS, mint
from tests.browser.chat_page import CONNECTED, NON_EMPTY, SIMULATED_NETWORK, ChatPage
from tests.browser.test_chat_page import person, token
from tests.integration.aws_clients import management_client
from tests.integration.local_gateway import REPO, LocalGateway

#: What "load earlier" and the page's paging of missed messages ask for at a time.
HISTORY_PAGE = 50
#: The page keeps this many entries of a conversation as live messages arrive.
MAX_ENTRIES = 1000
#: A browser whose clock is 90 s behind the server's.
SLOW_CLOCK = "(() => { const real = Date.now; Date.now = () => real() - 90_000; })()"
#: Does the node sit in a live region (or is one)? Counts the live regions it is in.
LIVE_REGIONS_AROUND = """node => {
  let count = 0;
  for (let at = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement; at;
       at = at.parentElement) {
    const live = at.getAttribute("aria-live");
    if ((live && live !== "off") || ["alert", "status", "log"].includes(at.getAttribute("role"))) {
      count += 1;
    }
  }
  return count;
}"""

#: For each text in #status that counts seconds down: how many live regions it is in.
COUNTDOWN_LIVE_REGIONS = f"""() => {{
  const liveRegionsAround = {LIVE_REGIONS_AROUND};
  const walker = document.createTreeWalker(document.getElementById("status"), NodeFilter.SHOW_TEXT);
  const found = [];
  while (walker.nextNode()) {{
    const text = walker.currentNode;
    if (/in \\d+ s/.test(text.data)) found.push(liveRegionsAround(text));
  }}
  return found;
}}"""


def room_name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


@contextmanager
def socket_user(gateway: LocalGateway, query: str) -> Iterator[ClientConnection]:
    """Someone on a plain WebSocket (`name=...` or `token=...`)."""
    with connect(f"{gateway.stage_url}?{query}", open_timeout=30) as ws:
        yield ws


def reply(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The reply to the last request, past presence and other people's messages."""
    for _ in range(100):
        frame: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if frame["type"] == kind and (kind != "joined" or "messages" in frame):
            return frame
        assert frame["type"] in ("joined", "left", "message", "direct"), (kind, frame)
    raise AssertionError(f"no {kind!r} reply among 100 frames")


def join(ws: ClientConnection, room: str) -> None:
    ws.send(json.dumps({"action": "join", "room": room}))
    assert "messages" in reply(ws, "joined")


def say(ws: ClientConnection, room: str, texts: Sequence[str]) -> None:
    """Each message acknowledged before the next, so the room's history keeps their order."""
    for text in texts:
        ws.send(json.dumps({"action": "sendmessage", "room": room, "data": text}))
        assert reply(ws, "sent")["room"] == room


def message_texts(chat: ChatPage) -> list[str]:
    return [entry["text"] for entry in chat.read_entries() if entry["kind"] == "message"]


def drop(gateway: LocalGateway, chat: ChatPage) -> None:
    """The server drops the page's connection (`@connections` DELETE)."""
    management_client(gateway.management_endpoint).delete_connection(
        ConnectionId=chat.connection_id()
    )


def test_more_messages_missed_than_a_join_carries_are_all_shown(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    room = room_name("gap")
    before = [f"before {n:02d}" for n in range(JOIN_HISTORY + 5)]
    missed = [f"missed {n:02d}" for n in range(JOIN_HISTORY + 10)]
    with (
        socket_user(chat_gateway, "name=dave") as dave,
        person(browser, chat_url, SIMULATED_NETWORK) as alice,
    ):
        join(dave, room)
        say(dave, room, before)
        alice.connect(name="alice")
        alice.join_and_open(room)
        expect(alice.messages).to_have_count(JOIN_HISTORY)

        # Away: the connection drops and cannot come back while dave writes on.
        alice.refuse_connections(True)
        drop(chat_gateway, alice)
        expect(alice.status).to_have_attribute("data-state", "reconnecting")
        say(dave, room, missed)
        alice.refuse_connections(False)
        alice.retry_now()
        expect(alice.status).to_have_attribute("data-state", CONNECTED)

        # The rejoin carries the newest JOIN_HISTORY; the page pages back to what it had.
        expect(alice.messages).to_have_count(JOIN_HISTORY + len(missed))
        assert message_texts(alice) == before[-JOIN_HISTORY:] + missed
        # "Load earlier" still starts where the first join left it: the oldest five.
        alice.page.click("#load-earlier")
        expect(alice.messages).to_have_count(len(before) + len(missed))
        assert message_texts(alice) == before + missed
        expect(alice.page.locator("#load-earlier")).to_be_hidden()
        alice.assert_nothing_executed()


def say_quickly(ws: ClientConnection, room: str, count: int, prefix: str) -> None:
    """`count` messages sent without waiting for each acknowledgement (their order in the
    room's history is the server's)."""
    for n in range(count):
        ws.send(json.dumps({"action": "sendmessage", "room": room, "data": f"{prefix} {n:04d}"}))
    for _ in range(count):
        assert reply(ws, "sent")["room"] == room


def test_missed_messages_are_paged_in_ten_pages_deep_and_the_rest_on_request(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    room = room_name("long-gap")
    depth = JOIN_HISTORY + 10 * HISTORY_PAGE  # what the page fetches by itself
    missed = depth + HISTORY_PAGE + 10
    with (
        socket_user(chat_gateway, "name=dave") as dave,
        person(browser, chat_url, SIMULATED_NETWORK) as alice,
    ):
        join(dave, room)
        say(dave, room, ["before"])
        alice.connect(name="alice")
        alice.join_and_open(room)
        alice.wait_for_message("before")
        alice.refuse_connections(True)
        drop(chat_gateway, alice)
        expect(alice.status).to_have_attribute("data-state", "reconnecting")
        say_quickly(dave, room, missed, "missed")
        alice.refuse_connections(False)
        alice.retry_now()
        expect(alice.status).to_have_attribute("data-state", CONNECTED)

        expect(alice.messages).to_have_count(1 + depth)
        gap_note = alice.page.locator("#log li.system", has_text="while you were away")
        expect(gap_note).to_have_count(1)
        for shown in (1 + depth + HISTORY_PAGE, 1 + missed):
            alice.page.click("#load-earlier")
            expect(alice.messages).to_have_count(shown)
        # The gap is closed (it reached "before"): its note goes, nothing is repeated.
        expect(gap_note).to_have_count(0)
        texts = message_texts(alice)
        assert texts[0] == "before"
        assert sorted(texts[1:]) == [f"missed {n:04d}" for n in range(missed)]
        expect(alice.page.locator("#load-earlier")).to_be_hidden()
        alice.assert_nothing_executed()


def test_a_message_whose_acknowledgement_was_lost_is_confirmed_not_repeated(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    room = room_name("lost-ack")
    with person(browser, chat_url, SIMULATED_NETWORK) as alice:
        alice.connect(name="alice")
        alice.join_and_open(room)
        first = alice.connection_id()
        alice.page.evaluate("() => { window.testNetwork.loseNextAck = true; }")
        alice.page.fill("#message", "was I sent?")
        alice.page.press("#message", "Enter")
        expect(alice.me).not_to_have_attribute("data-connection-id", first)
        expect(alice.status).to_have_attribute("data-state", CONNECTED)
        # The rejoin's history holds it, sent from the old connection: that is ours, confirmed.
        expect(alice.messages).to_have_count(1)
        expect(alice.messages.first).to_have_attribute("data-id", NON_EMPTY)
        [entry] = alice.read_entries()
        assert (entry["text"], entry["pending"], entry["failure"]) == ("was I sent?", False, None)
        expect(alice.page.locator("#log .retry")).to_have_count(0)
        alice.assert_nothing_executed()


def test_a_failed_message_can_be_put_back_in_the_message_box(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    room = room_name("retry")
    with person(browser, chat_url) as alice:
        alice.connect(name="alice")
        alice.join_and_open(room)
        with socket_user(chat_gateway, "name=bob") as bob:
            join(bob, room)
            alice.page.get_by_role("button", name="Message bob").click()
            expect(alice.title).to_contain_text("@ bob")
        alice.open_conversation(f"# {room}")
        alice.wait_for_system("bob left")
        alice.open_conversation("@ bob")
        # bob is gone: the server refuses the direct message.
        alice.page.fill("#message", "are you there?")
        alice.page.press("#message", "Enter")
        failed = alice.page.locator("#log li.message.failed")
        expect(failed.locator(".failure")).to_have_text(re.compile("is not connected"))
        alice.page.fill("#message", "")
        failed.get_by_role("button", name=re.compile("Retry")).click()
        expect(alice.page.locator("#message")).to_have_value("are you there?")
        expect(alice.page.locator("#message")).to_be_focused()
        expect(alice.messages).to_have_count(0)
        alice.assert_nothing_executed()


def test_an_expired_token_stops_the_reconnecting_and_says_why(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    # Expired 5 s short of the server's leeway: accepted now, refused a few seconds on.
    minted = time.time()
    expires = minted - (LEEWAY_SECONDS - 5)
    expiring = mint(
        dev_secret(REPO),
        subject="u-eve",
        name="eve",
        issuer="switchboard",
        audience="switchboard",
        ttl_seconds=600,
        now=expires - 600,
    )
    with person(browser, chat_url) as eve:
        eve.connect(token=expiring)
        # A connection outlives its token (expiry is checked at the handshake); a new one not.
        time.sleep(max(0.0, expires + LEEWAY_SECONDS + 1 - time.time()))
        drop(chat_gateway, eve)
        eve.expect_refused_for_good("token expired", "the token expired at", waited_ms=1500)
        eve.assert_nothing_executed()


def test_reconnects_that_keep_failing_are_reported_and_retried(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    with person(browser, chat_url, SIMULATED_NETWORK) as frank:
        frank.connect(name="frank")
        frank.refuse_connections(True)
        drop(chat_gateway, frank)
        warning = frank.page.locator("#notices li.warning")
        frank.retry_now()
        expect(frank.status).to_contain_text("attempt 2, last one failed")
        expect(warning).to_have_count(0)  # one failure is no news
        # Two more (sooner than the backoff would try them, which it also does).
        for _ in range(2):
            frank.retry_now()
        expect(warning.locator(".code")).to_have_text("reconnecting")
        expect(warning.locator(".text")).to_contain_text("keeps failing (3 attempts in a row)")
        # Still trying: when the server is back, so is the page.
        expect(frank.status).to_have_attribute("data-state", "reconnecting")
        frank.refuse_connections(False)
        frank.retry_now()
        expect(frank.status).to_have_attribute("data-state", CONNECTED)
        frank.assert_nothing_executed()


def direct_to(ws: ClientConnection, user_id: str, text: str) -> None:
    ws.send(json.dumps({"action": "sendto", "to": user_id, "data": text}))
    assert reply(ws, "sent")["to"] == user_id


def test_a_guest_cannot_pass_for_a_user_in_direct_messages(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    with (
        person(browser, chat_url) as alice,
        socket_user(chat_gateway, f"token={token('u-bob', 'bob')}") as real,
        socket_user(chat_gateway, "name=bob") as impostor,
    ):
        alice.connect(token=token("u-alice", "alice"))
        direct_to(real, "u-alice", "hi, real bob here")
        direct_to(impostor, "u-alice", "bob again: send me the staging password")
        expect(alice.directs).to_have_count(2)
        shown: list[list[str]] = alice.directs.evaluate_all(
            "links => links.map(link => [link.querySelector('.label').textContent, link.title])"
        )
        by_label = {label: title for label, title in shown}
        assert sorted(by_label) == ["@ bob", "@ bob (guest)"]
        assert by_label["@ bob"] == "u-bob"
        assert by_label["@ bob (guest)"].startswith("guest:")
        alice.open_conversation("@ bob (guest)")
        expect(alice.title).to_have_text("@ bob (guest) (direct messages)")
        alice.wait_for_message("bob again: send me the staging password")
        expect(alice.page.locator("#log li.message .tag")).to_have_text(["guest"])
        alice.assert_nothing_executed()


def focused(chat: ChatPage, attribute: str) -> str | None:
    value: str | None = chat.page.evaluate(
        "name => document.activeElement.getAttribute(name)", attribute
    )
    return value


def test_keyboard_focus_stays_put_as_messages_and_people_arrive(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    room = room_name("focus")
    with socket_user(chat_gateway, "name=bob") as bob, person(browser, chat_url) as alice:
        join(bob, room)
        alice.connect(name="alice")
        alice.join_and_open(room)
        expect(alice.members).to_have_count(2)

        # On the room list, while a message arrives (every list is rebuilt).
        alice.page.locator('#rooms .conversation-link[data-key="room:lobby"]').focus()
        say(bob, room, ["ping"])
        alice.wait_for_message("ping")
        assert focused(alice, "data-key") == "room:lobby"

        # On a member's button, while someone joins (the member list is rebuilt).
        alice.page.get_by_role("button", name="Message bob").focus()
        with socket_user(chat_gateway, "name=carol") as carol:
            join(carol, room)
            expect(alice.members).to_have_count(3)
        assert focused(alice, "aria-label") == "Message bob"
        alice.assert_nothing_executed()


def live_regions(chat: ChatPage, text: str) -> Locator:
    """Polite live regions (other than the connection state) holding `text`."""
    return chat.page.locator('[aria-live="polite"]', has_text=text)


def test_connecting_puts_the_focus_in_the_message_box(browser: Browser, chat_url: str) -> None:
    with person(browser, chat_url) as alice:
        alice.page.locator("#name").focus()
        alice.page.fill("#name", "alice")
        alice.page.press("#name", "Enter")
        expect(alice.me).to_be_visible()
        # The form it was in is gone: the focus goes where one writes, not to the page's body.
        expect(alice.page.locator("#message")).to_be_focused()
        alice.assert_nothing_executed()


def test_arriving_messages_are_read_out_and_unread_counts_read_as_counts(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    room = room_name("announce")
    with socket_user(chat_gateway, "name=bob") as bob, person(browser, chat_url) as alice:
        join(bob, room)
        alice.connect(name="alice")
        alice.join_and_open(room)
        say(bob, room, ["ping"])
        expect(live_regions(alice, "bob (guest): ping")).to_have_count(1)
        direct_to(bob, alice.user_id(), "psst")
        expect(live_regions(alice, "bob (guest) (direct message): psst")).to_have_count(1)
        # "@ bob (guest), 1 unread", not "@ bob (guest)1" as if the count were part of the name.
        expect(alice.directs).to_have_accessible_name("@ bob (guest), 1 unread")
        alice.assert_nothing_executed()


def announcements_of(chat: ChatPage, notice: Locator) -> int:
    """How many live regions read the notice out: the ones it is in, and polite ones that
    repeat its text."""
    around: int = notice.evaluate(LIVE_REGIONS_AROUND)
    text = notice.locator(".text").text_content() or ""
    return around + live_regions(chat, text).count()


def test_each_notice_is_read_out_once(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    with person(browser, chat_url) as alice:
        alice.connect(name="alice")
        alice.join("not a room name!")
        error = alice.page.locator("#notices li.error").first
        expect(error.locator(".code")).to_have_text("bad room")
        assert announcements_of(alice, error) == 1
        drop(chat_gateway, alice)
        info = alice.page.locator("#notices li.info").first
        expect(info.locator(".text")).to_have_text(
            "The server closed the connection. Reconnecting\u2026"
        )
        assert announcements_of(alice, info) == 1
        expect(alice.status).to_have_attribute("data-state", CONNECTED)
        alice.assert_nothing_executed()


def test_the_reconnect_countdown_is_not_read_out(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    with person(browser, chat_url, SIMULATED_NETWORK) as alice:
        alice.connect(name="alice")
        alice.refuse_connections(True)
        drop(chat_gateway, alice)
        expect(alice.status).to_have_attribute("data-state", "reconnecting")
        expect(alice.status).to_contain_text(re.compile(r"in \d+ s"))
        # The seconds, rewritten every second, are in no live region; the state is in one.
        countdown_live: list[int] = alice.page.evaluate(COUNTDOWN_LIVE_REGIONS)
        assert countdown_live == [0]
        expect(alice.page.get_by_role("status")).to_have_text("Reconnecting")
        alice.refuse_connections(False)
        alice.retry_now()
        expect(alice.status).to_have_attribute("data-state", CONNECTED)
        expect(alice.page.get_by_role("status")).to_have_text("Connected")
        alice.assert_nothing_executed()


def test_load_earlier_keeps_working_past_the_entry_cap(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    room = room_name("cap")
    total = MAX_ENTRIES + HISTORY_PAGE + 20
    with socket_user(chat_gateway, "name=dave") as dave:
        join(dave, room)
        say_quickly(dave, room, total, "m")
    with person(browser, chat_url) as erin:
        erin.connect(name="erin")
        erin.join_and_open(room)
        expect(erin.messages).to_have_count(JOIN_HISTORY)
        load_earlier = erin.page.locator("#load-earlier")
        for page in range(1, 100):
            if load_earlier.is_hidden():
                break
            load_earlier.click()
            expect(erin.messages).to_have_count(min(total, JOIN_HISTORY + page * HISTORY_PAGE))
        expect(erin.messages).to_have_count(total)
        assert sorted(message_texts(erin)) == [f"m {n:04d}" for n in range(total)]
        erin.assert_nothing_executed()


def test_own_messages_follow_what_is_shown_when_the_clock_is_behind(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    room = room_name("clock")
    with (
        socket_user(chat_gateway, "name=bob") as bob,
        person(browser, chat_url, SLOW_CLOCK) as alice,
    ):
        join(bob, room)
        alice.connect(name="alice")
        alice.join_and_open(room)
        say(bob, room, ["bob 1"])
        alice.wait_for_message("bob 1")
        alice.send("alice replies to bob 1")
        say(bob, room, ["bob 2"])
        alice.wait_for_message("bob 2")
        assert message_texts(alice) == ["bob 1", "alice replies to bob 1", "bob 2"]
        alice.assert_nothing_executed()


def test_service_messages_are_tagged_and_a_refused_room_name_stays_for_editing(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    assert chat_gateway.http_api_url, "the app's template serves an HTTP API"
    room = room_name("service")
    service = mint(
        dev_secret(REPO),
        subject="svc-deploy",
        name="deploy bot",
        roles=("service",),
        issuer="switchboard",
        audience="switchboard",
        ttl_seconds=600,
    )
    with person(browser, chat_url) as alice:
        alice.connect(token=token("u-alice", "alice"))
        join_box = alice.page.locator("#join-room")
        alice.join("private:ops")
        expect(alice.notices.first.locator(".code")).to_have_text("forbidden")
        expect(join_box).to_have_value("private:ops")
        alice.join_and_open(room)
        expect(join_box).to_have_value("")

        pushed = httpx.post(
            f"{chat_gateway.http_api_url.rstrip('/')}/rooms/{room}/messages",
            json={"data": "deploy finished"},
            headers={"Authorization": f"Bearer {service}"},
            timeout=30,
        )
        assert pushed.is_success, pushed.text
        assert alice.wait_for_message("deploy finished")["from"] == "deploy bot"
        expect(alice.page.locator("#log li.message .tag")).to_have_text(["service"])
        alice.assert_nothing_executed()
