"""The chat page as a person uses it: fill in, click, read what is shown.

Each step waits, through Playwright's `expect`, for the page to show its outcome, so a test
reads as a conversation and fails where the page stopped following it. What the page shows is
read back with `textContent`, exactly, so hostile text is compared byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import ConsoleMessage, Dialog, Locator, Page, expect

NON_EMPTY = re.compile(r".+")
PENDING = re.compile(r"\bpending\b")

#: The page's states, as `#status[data-state]` names them.
CONNECTED = "connected"
DISCONNECTED = "disconnected"

#: What the page shows for each message in the open conversation, read as text.
READ_ENTRIES = """entries => entries.map(entry => ({
  kind: entry.classList.contains("system") ? "system" : "message",
  from: entry.querySelector(".from")?.textContent ?? null,
  text: entry.querySelector(".text").textContent,
  time: entry.querySelector("time").getAttribute("datetime"),
  timeText: entry.querySelector("time").textContent,
  pending: entry.classList.contains("pending"),
  failure: entry.querySelector(".failure")?.textContent ?? null,
  id: entry.dataset.id ?? null,
  elementsInside: [...entry.querySelectorAll(".from, .text")]
    .reduce((n, part) => n + part.childElementCount, 0),
}))"""

#: Records every state the status indicator goes through, from now on.
WATCH_STATES = """() => {
  const status = document.getElementById("status");
  window.statesSeen = [status.dataset.state];
  new MutationObserver(() => {
    const state = status.dataset.state;
    if (window.statesSeen[window.statesSeen.length - 1] !== state) window.statesSeen.push(state);
  }).observe(status, { attributes: true, attributeFilter: ["data-state"] });
}"""

#: The network between the page and the server, under the test's control: it changes nothing
#: in the page, only what its WebSockets meet. `testNetwork.refuse` makes the server refuse
#: new connections (a token it rejects is added, so the real authorizer answers 401);
#: `testNetwork.loseNextAck` closes the socket as the next `sent` acknowledgement arrives,
#: before the page sees it (a drop between the server's work and its reply).
SIMULATED_NETWORK = """(() => {
  const Real = window.WebSocket;
  const network = window.testNetwork = { refuse: false, loseNextAck: false, sockets: [] };
  function Simulated(url, protocols) {
    const target = new URL(url);
    if (network.refuse) target.searchParams.set("token", "refused-by-the-test");
    const socket = protocols === undefined ? new Real(target) : new Real(target, protocols);
    network.sockets.push(socket);
    const listen = socket.addEventListener.bind(socket);
    socket.addEventListener = (type, listener, options) => listen(type, type !== "message"
      ? listener
      : (event) => {
          if (network.loseNextAck && typeof event.data === "string" &&
              JSON.parse(event.data).type === "sent") {
            network.loseNextAck = false;
            socket.close();
            return;
          }
          listener(event);
        }, options);
    return socket;
  }
  Simulated.prototype = Real.prototype;
  for (const name of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Simulated[name] = Real[name];
  window.WebSocket = Simulated;
})()"""


@dataclass
class ChatPage:
    page: Page
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    policy_violations: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on("console", self._console)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.policy_violations.append(message.text)

    # --- locators ---------------------------------------------------------------------------

    @property
    def status(self) -> Locator:
        return self.page.locator("#status")

    @property
    def me(self) -> Locator:
        return self.page.locator("#me")

    @property
    def notices(self) -> Locator:
        return self.page.locator("#notices li")

    @property
    def entries(self) -> Locator:
        return self.page.locator("#log li")

    @property
    def messages(self) -> Locator:
        return self.page.locator("#log li.message")

    @property
    def title(self) -> Locator:
        return self.page.locator("#conversation-title")

    @property
    def rooms(self) -> Locator:
        return self.page.locator("#rooms .conversation-link .label")

    @property
    def directs(self) -> Locator:
        return self.page.locator("#directs .conversation-link")

    @property
    def members(self) -> Locator:
        return self.page.locator("#members .member-name")

    # --- steps ------------------------------------------------------------------------------

    def open(self, url: str) -> ChatPage:
        self.page.goto(url)
        expect(self.status).to_have_attribute("data-state", DISCONNECTED)
        return self

    def connect(self, name: str = "", token: str = "") -> None:
        self.page.fill("#name", name)
        self.page.fill("#token", token)
        self.page.click("#connect")
        expect(self.status).to_have_attribute("data-state", CONNECTED)
        # The page knows who it is once the lobby's join reply has named this connection.
        expect(self.me).to_be_visible()
        expect(self.title).to_have_text("# lobby")

    def connection_id(self) -> str:
        value = self.me.get_attribute("data-connection-id")
        assert value, "the page shows no connection id"
        return value

    def user_id(self) -> str:
        value = self.me.get_attribute("data-user-id")
        assert value, "the page shows no user id"
        return value

    def join(self, room: str) -> None:
        self.page.fill("#join-room", room)
        self.page.press("#join-room", "Enter")

    def join_and_open(self, room: str) -> None:
        self.join(room)
        expect(self.title).to_have_text(f"# {room}")

    def open_conversation(self, label: str) -> None:
        self.page.locator(".conversation-link", has_text=label).first.click()

    def send(self, text: str) -> None:
        """Send in the open conversation and wait for the server's acknowledgement."""
        before = self.page.locator("#log li.message.mine").count()
        self.page.fill("#message", text)
        self.page.press("#message", "Enter")
        mine = self.page.locator("#log li.message.mine")
        expect(mine).to_have_count(before + 1)
        # Acknowledged: no longer pending, and carrying the id the server gave it.
        expect(mine.last).not_to_have_class(PENDING)
        expect(mine.last).to_have_attribute("data-id", NON_EMPTY)

    def read_entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.entries.evaluate_all(READ_ENTRIES)
        return entries

    def wait_for_message(self, text: str) -> dict[str, Any]:
        """The entry of the open conversation whose text is exactly `text`, once shown."""
        expect(self.page.locator("#log li.message .text", has_text=text).first).to_be_visible()
        found = [e for e in self.read_entries() if e["kind"] == "message" and e["text"] == text]
        assert found, f"no message with exactly {text!r} among {self.read_entries()}"
        return found[-1]

    def wait_for_system(self, text: str) -> None:
        expect(self.page.locator("#log li.system .text", has_text=text).last).to_be_visible()

    def refuse_connections(self, refuse: bool) -> None:
        """Needs SIMULATED_NETWORK."""
        self.page.evaluate("refuse => { window.testNetwork.refuse = refuse; }", refuse)

    def retry_now(self) -> None:
        """Click "Retry now" when it is shown (between attempts)."""
        expect(self.status).to_have_attribute("data-state", "reconnecting")
        # Not `click`: the next attempt may start (and hide the button) at any moment.
        self.page.evaluate(
            "() => { const retry = document.getElementById('retry');"
            " retry.hidden || retry.click(); }"
        )

    def expect_refused_for_good(self, code: str, text: str, waited_ms: int) -> None:
        """A refusal shown (its code and part of its text) with the connect form, and no
        retrying: still disconnected after `waited_ms`, with no countdown, no attempt."""
        expect(self.notices.first.locator(".code")).to_have_text(code)
        expect(self.notices.first.locator(".text")).to_contain_text(text)
        expect(self.status).to_have_attribute("data-state", DISCONNECTED)
        expect(self.page.locator("#connect-form")).to_be_visible()
        expect(self.page.locator("#retry")).to_be_hidden()
        self.page.wait_for_timeout(waited_ms)
        expect(self.status).to_have_attribute("data-state", DISCONNECTED)

    def watch_states(self) -> None:
        self.page.evaluate(WATCH_STATES)

    def states_seen(self) -> list[str]:
        seen: list[str] = self.page.evaluate("() => window.statesSeen")
        return seen

    def assert_nothing_executed(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.page_errors == [], f"script errors: {self.page_errors}"
        assert self.policy_violations == [], f"CSP violations: {self.policy_violations}"
