"""The chat page in Debian's chromium, chatting through a real `switchboard local`.

Two (or three) browser contexts are two people: separate storage, separate sockets. Tokens are
real, signed with the checkout's development secret as in tests/integration. A screenshot of
the main conversation is kept in tests/browser/artifacts/chat.png; with
SWITCHBOARD_README_SCREENSHOT=1 the README's docs/chat-page.png is taken from it as well.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ViewportSize, expect
from websockets.sync.client import ClientConnection, connect

from switchboard.history import JOIN_HISTORY
from switchboard.local.dev_secret import dev_secret
from switchboard.tokens import mint
from tests.browser.chat_page import CONNECTED, ChatPage
from tests.browser.page_server import PageServer
from tests.integration.aws_clients import management_client
from tests.integration.local_gateway import REPO, LocalGateway

VIEWPORT: ViewportSize = {"width": 1100, "height": 640}
README_VIEWPORT: ViewportSize = {"width": 960, "height": 420}
README_SCREENSHOT = REPO / "docs" / "chat-page.png"
#: The server's clock and the browser's are the same machine's; this covers a slow run.
CLOCK_SLACK_SECONDS = 5.0
#: Every element the page is built from; data must never add another kind.
PAGE_ELEMENTS = {
    "HTML", "HEAD", "META", "TITLE", "STYLE", "BODY", "HEADER", "H1", "H2", "SPAN", "BUTTON",
    "UL", "OL", "LI", "FORM", "LABEL", "INPUT", "MAIN", "ASIDE", "SECTION", "DIV", "P",
    "SCRIPT", "TIME",
}  # fmt: skip


def token(user_id: str, name: str, rooms: tuple[str, ...] = ()) -> str:
    return mint(
        dev_secret(REPO),
        subject=user_id,
        name=name,
        rooms=rooms,
        issuer="switchboard",
        audience="switchboard",
        ttl_seconds=600,
    )


@contextmanager
def person(browser: Browser, url: str, *init_scripts: str) -> Iterator[ChatPage]:
    """A browser context of its own: one person, one tab, closed at the end. `init_scripts`
    run in the tab before the page's own (see chat_page.SIMULATED_NETWORK)."""
    context = browser.new_context(viewport=VIEWPORT)
    for script in init_scripts:
        context.add_init_script(script)
    try:
        yield ChatPage(context.new_page()).open(url)
    finally:
        context.close()


def assert_shown_time(iso: str, earliest: float, latest: float) -> None:
    shown = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    assert earliest - CLOCK_SLACK_SECONDS <= shown <= latest + CLOCK_SLACK_SECONDS, (
        f"the message is shown at {iso}, sent between {earliest} and {latest}"
    )


def member_names(chat: ChatPage, count: int) -> list[str]:
    expect(chat.members).to_have_count(count)
    return sorted(chat.members.all_text_contents())


def test_two_people_chat_through_the_local_gateway(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str, artifacts: Path
) -> None:
    with person(browser, chat_url) as alice, person(browser, chat_url) as bob:
        # A guest with a name, and a user with a token granting a private room.
        alice.connect(name="alice")
        expect(alice.me).to_have_text("alice (guest)")
        assert alice.user_id() == f"guest:{alice.connection_id()}"
        bob.connect(token=token("u-bob", "bob", rooms=("private:ops",)))
        expect(bob.me).to_have_text("bob")
        assert bob.user_id() == "u-bob"

        # History on join: bob joins after alice wrote, and sees her message with name and time.
        alice.join_and_open("general")
        before = time.time()
        alice.send("Morning! Is the release branch cut?")
        after = time.time()
        bob.join_and_open("general")
        earlier = bob.wait_for_message("Morning! Is the release branch cut?")
        assert earlier["from"] == "alice"
        assert_shown_time(earlier["time"], before, after)
        assert earlier["timeText"].strip() != ""
        alice.wait_for_system("bob joined")
        assert member_names(alice, 2) == ["alice", "bob"]

        # A live message, with name and time.
        before = time.time()
        bob.send("Yes, cut at 09:00. Tagging rc1 now.")
        live = alice.wait_for_message("Yes, cut at 09:00. Tagging rc1 now.")
        assert live["from"] == "bob"
        assert_shown_time(live["time"], before, time.time())
        alice.send("Great, starting the smoke tests on staging.")
        bob.wait_for_message("Great, starting the smoke tests on staging.")

        # A direct message, opened from the member list, and its reply.
        alice.page.get_by_role("button", name="Message bob").click()
        expect(alice.title).to_have_text("@ bob (direct messages)")
        alice.send("Can you look at my PR before lunch?")
        # Its label (alice is a guest: anyone may call himself alice) and one unread.
        expect(bob.directs).to_have_accessible_name("@ alice (guest), 1 unread")
        bob.open_conversation("@ alice")
        direct = bob.wait_for_message("Can you look at my PR before lunch?")
        assert direct["from"] == "alice"
        bob.send("Sure, send me the link.")
        assert alice.wait_for_message("Sure, send me the link.")["from"] == "bob"
        alice.open_conversation("# general")
        bob.send("Also: standup moved to 10:30.")
        expect(alice.directs).to_have_accessible_name("@ bob, 1 unread")

        if os.environ.get("SWITCHBOARD_README_SCREENSHOT"):
            alice.page.set_viewport_size(README_VIEWPORT)
            alice.page.screenshot(path=README_SCREENSHOT)
            alice.page.set_viewport_size(VIEWPORT)

        # An error from the server, shown to the user: no grant for the private room.
        alice.join("private:ops")
        refusal = alice.notices.first
        expect(refusal.locator(".code")).to_have_text("forbidden")
        expect(refusal.locator(".text")).to_have_text('you may not enter room "private:ops"')
        expect(alice.rooms).to_have_text(["# lobby", "# general"])
        bob.join_and_open("private:ops")

        # The server drops alice's connection: the page reconnects and rejoins her rooms.
        dropped = alice.connection_id()
        alice.watch_states()
        management_client(chat_gateway.management_endpoint).delete_connection(ConnectionId=dropped)
        expect(alice.me).not_to_have_attribute("data-connection-id", dropped)
        expect(alice.status).to_have_attribute("data-state", CONNECTED)
        assert alice.states_seen() == [CONNECTED, "reconnecting", "connecting", CONNECTED]
        expect(alice.page.locator("#notices li.info .text")).to_have_text(
            "The server closed the connection. Reconnecting\u2026"
        )
        expect(alice.rooms).to_have_text(["# lobby", "# general"])
        expect(alice.title).to_have_text("# general")
        alice.send("Back after a blip.")
        bob.open_conversation("# general")
        assert bob.wait_for_message("Back after a blip.")["from"] == "alice"
        bob.wait_for_system("alice left")
        bob.wait_for_system("alice joined")

        # Leaving: the room goes from bob's list, and alice sees him go.
        bob.page.click("#leave")
        expect(bob.rooms).to_have_text(["# lobby", "# private:ops"])
        alice.wait_for_system("bob left")
        assert member_names(alice, 1) == ["alice"]

        alice.page.screenshot(path=artifacts / "chat.png")
        bob.page.screenshot(path=artifacts / "chat-bob.png")
        alice.assert_nothing_executed()
        bob.assert_nothing_executed()


HOSTILE_NAMES = ("<img src=x onerror=alert(1)>", "'; DROP TABLE users; --", "$(rm -rf /)")
HOSTILE_TEXTS = (
    "<img src=x onerror=alert(1)>",
    "'; DROP TABLE users; --",
    "$(rm -rf /)",
    "<script>alert(2)</script>",
    '"><svg onload=alert(3)>',
    "`touch /tmp/pwned`; echo $HOME && cat /etc/passwd | nc 127.0.0.1 9",
    "Robert'); DELETE FROM messages WHERE ('1'='1",
    "&lt;b&gt;not bold&lt;/b&gt; &amp; {{7*7}} ${7*7} %s %n \\x00",
)


def assert_only_page_elements(chat: ChatPage) -> None:
    tags: list[str] = chat.page.evaluate(
        "() => [...document.querySelectorAll('*')].map(element => element.tagName)"
    )
    assert set(tags) <= PAGE_ELEMENTS, f"elements made from data: {set(tags) - PAGE_ELEMENTS}"
    assert tags.count("SCRIPT") == 1


@pytest.fixture(params=["as served", "without a policy"])
def hostile_page(request: pytest.FixtureRequest, chat_url: str, page_server: PageServer) -> str:
    """The page as served, and without its Content-Security-Policy: the policy would block
    injected scripts, so only without it does the test show that the page injects nothing."""
    return chat_url if request.param == "as served" else page_server.url("/no-policy")


def test_hostile_names_and_messages_round_trip_as_text(browser: Browser, hostile_page: str) -> None:
    room = f"hostile-{uuid.uuid4().hex[:8]}"
    writer_name, reader_name, latecomer_name = HOSTILE_NAMES
    with (
        person(browser, hostile_page) as writer,
        person(browser, hostile_page) as reader,
        person(browser, hostile_page) as latecomer,
    ):
        writer.connect(name=writer_name)
        reader.connect(name=reader_name)
        expect(writer.me).to_have_text(f"{writer_name} (guest)")
        expect(reader.me).to_have_text(f"{reader_name} (guest)")
        writer.join_and_open(room)
        reader.join_and_open(room)
        writer.wait_for_system(f"{reader_name} joined")

        for text in HOSTILE_TEXTS:
            writer.send(text)
            shown = reader.wait_for_message(text)
            assert (shown["from"], shown["text"], shown["elementsInside"]) == (writer_name, text, 0)
        reader.send(HOSTILE_TEXTS[0])

        # Stored and read back: the latecomer sees every message from the room's history.
        latecomer.connect(name=latecomer_name)
        latecomer.join_and_open(room)
        expect(latecomer.messages).to_have_count(len(HOSTILE_TEXTS) + 1)
        history = [(e["from"], e["text"], e["elementsInside"]) for e in latecomer.read_entries()]
        expected = [(writer_name, text, 0) for text in HOSTILE_TEXTS]
        assert history == [*expected, (reader_name, HOSTILE_TEXTS[0], 0)]
        assert member_names(latecomer, 3) == sorted(HOSTILE_NAMES)
        writer.wait_for_system(f"{latecomer_name} joined")

        # A direct message: the sender's name labels the conversation, as text.
        writer.page.get_by_role("button", name=f"Message {latecomer_name}").click()
        writer.send(HOSTILE_TEXTS[4])
        expect(latecomer.directs.locator(".label")).to_have_text([f"@ {writer_name} (guest)"])
        latecomer.open_conversation(f"@ {writer_name}")
        expect(latecomer.title).to_have_text(f"@ {writer_name} (guest) (direct messages)")
        assert latecomer.wait_for_message(HOSTILE_TEXTS[4])["from"] == writer_name

        for chat in (writer, reader, latecomer):
            assert_only_page_elements(chat)
            chat.assert_nothing_executed()


def test_a_refused_token_is_shown_and_not_retried(browser: Browser, chat_url: str) -> None:
    with person(browser, chat_url) as chat:
        chat.page.fill("#token", "not-a-token")
        chat.page.click("#connect")
        # Not retried (a refused handshake would be refused again): no countdown, no attempt.
        chat.expect_refused_for_good("connection refused", "the token", waited_ms=1200)
        expect(chat.page.locator("#chat")).to_be_hidden()
        chat.assert_nothing_executed()


def test_reconnect_backoff_is_exponential_capped_and_jittered(
    browser: Browser, chat_url: str
) -> None:
    with person(browser, chat_url) as chat:
        schedule: dict[str, object] = chat.page.evaluate(
            """() => ({
              base: window.switchboardChat.BACKOFF_BASE_MS,
              cap: window.switchboardChat.BACKOFF_CAP_MS,
              samples: Array.from({ length: 40 }, (_, attempt) =>
                Array.from({ length: 200 }, () => window.switchboardChat.backoffDelay(attempt))),
            })"""
        )
    assert (schedule["base"], schedule["cap"]) == (1000, 30000)
    samples = schedule["samples"]
    assert isinstance(samples, list)
    for attempt, delays in enumerate(samples):
        ceiling = min(30000, 1000 * 2**attempt)
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), (attempt, delays)
        # Jitter: 200 draws over [ceiling/2, ceiling] spread over most of it.
        assert max(delays) - min(delays) > ceiling / 4, (attempt, delays)


def test_an_unfilled_page_asks_for_the_url_or_takes_it_from_the_address(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str, page_server: PageServer
) -> None:
    unfilled = page_server.url("/unfilled")
    with person(browser, unfilled) as chat:
        url_field = chat.page.locator("#ws-url-field")
        expect(url_field).to_be_visible()
        chat.page.click("#connect")
        expect(chat.notices.first.locator(".text")).to_have_text(
            "Enter the WebSocket URL: ws://... or wss://..."
        )
        chat.page.fill("#ws-url", chat_gateway.stage_url)
        # Under a policy without 'unsafe-inline' (hashes, one WebSocket origin) it still works.
        chat.connect(name="carol")
        chat.send("typed the URL")
        chat.assert_nothing_executed()

        chat.open(f"{unfilled}?ws={chat_gateway.stage_url}")
        expect(url_field).to_be_hidden()
        expect(chat.page.locator("#server")).to_have_text(chat_gateway.stage_url)
        chat.connect(name="carol")

        chat.open(f"{unfilled}?ws=javascript:alert(1)")
        expect(url_field).to_be_visible()
        expect(chat.notices.first.locator(".text")).to_contain_text("not a ws:// or wss:// URL")

        # The served page names its server; another one from the address is flagged.
        chat.open(f"{chat_url}?ws={chat_gateway.ws_url}")
        expect(chat.page.locator("#server")).to_have_text(chat_gateway.ws_url)
        expect(chat.notices.first.locator(".code")).to_have_text("other server")
        served = chat.page.locator('meta[name="switchboard-websocket-url"]').get_attribute(
            "content"
        )
        assert served and served != chat_gateway.ws_url
        expect(chat.notices.first.locator(".text")).to_contain_text(
            f"connect to {chat_gateway.ws_url}, named in its address, instead of {served}."
        )
        chat.connect(name="carol")
        chat.assert_nothing_executed()


def reply(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The reply to the last request, past the lobby's presence frames of other tests' people."""
    for _ in range(50):
        frame: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if frame["type"] == kind and (kind != "joined" or "messages" in frame):
            return frame
        assert frame["type"] in ("joined", "left"), f"expected {kind!r}, got {frame}"
    raise AssertionError(f"no {kind!r} reply among 50 frames")


def test_earlier_history_on_request_and_oversized_messages_refused(
    browser: Browser, chat_gateway: LocalGateway, chat_url: str
) -> None:
    room = f"busy-{uuid.uuid4().hex[:8]}"
    written = [f"message {n:02d}" for n in range(JOIN_HISTORY + 5)]
    with connect(f"{chat_gateway.stage_url}?name=dave", open_timeout=30) as dave:
        dave.send(json.dumps({"action": "join", "room": room}))
        assert "messages" in reply(dave, "joined")
        for text in written:
            dave.send(json.dumps({"action": "sendmessage", "room": room, "data": text}))
            assert reply(dave, "sent")["room"] == room

    with person(browser, chat_url) as chat:
        chat.connect(name="erin")
        chat.join_and_open(room)
        expect(chat.messages).to_have_count(JOIN_HISTORY)
        chat.page.click("#load-earlier")
        expect(chat.messages).to_have_count(len(written))
        assert [(e["from"], e["text"]) for e in chat.read_entries()] == [
            ("dave", text) for text in written
        ]
        expect(chat.page.locator("#load-earlier")).to_be_hidden()  # nothing older

        # One frame may hold 32 KB: a larger message is refused before it is sent, and kept.
        chat.page.fill("#message", "x" * 33_000)
        chat.page.press("#message", "Enter")
        expect(chat.notices.first.locator(".code")).to_have_text("too large")
        expect(chat.page.locator("#message")).to_have_value("x" * 33_000)
        expect(chat.status).to_have_attribute("data-state", CONNECTED)
        expect(chat.messages).to_have_count(len(written))
        chat.assert_nothing_executed()
