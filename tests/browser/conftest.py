"""The chat page in a real browser: Debian's chromium driven by Playwright, against a real
`switchboard local` serving template.yaml.

Playwright downloads no browser here: it launches /usr/bin/chromium through `executable_path`.
Without it the tests skip on a developer's machine, and fail in CI (where `CI` is set), so that
a missing browser can never pass as green.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from tests.browser.page_server import (
    CHAT_PAGE,
    PageServer,
    Served,
    filled,
    serving,
    strict_policy,
)
from tests.integration.local_gateway import (
    APP_TEMPLATE,
    AUTHORIZER_REFUSAL,
    LocalGateway,
    running_gateway,
)

CHROMIUM = Path("/usr/bin/chromium")
# The machine's network is closed: no component updates, sync, QUIC probes or first-run
# pages, each of which would otherwise try to reach Google and slow the start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: Expectations wait this long: generous for a loaded 2-core CI machine, where they fail
#: only if the page never gets there.
EXPECT_TIMEOUT_MS = 10_000


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and later tests call asyncio.run().
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (scripts/setup installs it with apt-get)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def chat_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    """The real app, as `switchboard local` runs it by default (guests allowed)."""
    stderr_path = tmp_path_factory.mktemp("browser-gateway") / "gateway.stderr"
    # A refused token leaves the authorizer's `Unauthorized` traceback, as Lambda logs it.
    with running_gateway(
        APP_TEMPLATE, stderr_path, expected_traceback=AUTHORIZER_REFUSAL
    ) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def page_server(chat_gateway: LocalGateway) -> Iterator[PageServer]:
    page = CHAT_PAGE.read_text(encoding="utf-8")
    page_for_gateway = filled(page, chat_gateway.stage_url)
    with serving(
        {
            "/": Served(page_for_gateway, strict_policy(page_for_gateway)),
            "/no-policy": Served(page_for_gateway, None),
            # As if opened on its own; connections allowed to this gateway only.
            "/unfilled": Served(page, strict_policy(page, f"ws://127.0.0.1:{chat_gateway.port}")),
        }
    ) as server:
        yield server


@pytest.fixture(scope="module")
def chat_url(chat_gateway: LocalGateway, page_server: PageServer) -> str:
    """The chat page as the local stack's HTTP API serves it (`GET /`, through the real app),
    or, from a template without an HTTP API, as the stand-in serves it."""
    if chat_gateway.http_api_url:
        return f"{chat_gateway.http_api_url.rstrip('/')}/"
    return page_server.url("/")
