"""A loopback HTTP server for the chat page, as the HTTP API serves it: the WebSocket URL
filled into its meta tag and a Content-Security-Policy header allowing the page's own inline
script and style by hash.

It serves what the app does not: the page with its placeholder left unfilled (as when the
file is opened on its own), the page without any policy (so that only its own rendering stands
between data and markup), and the page wherever the local stack serves no HTTP API yet.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
CHAT_PAGE = REPO / "src" / "switchboard" / "http_api" / "static" / "index.html"
PLACEHOLDER = "__WEBSOCKET_URL__"


def filled(page: str, websocket_url: str) -> str:
    """The page with its WebSocket URL, escaped for the attribute it goes into."""
    return page.replace(PLACEHOLDER, html.escape(websocket_url, quote=True))


def _inline_hashes(page: str, tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    assert blocks, f"the page has no <{tag}> block"
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
        for block in blocks
    )


def strict_policy(page: str, connect_src: str = "ws: wss:") -> str:
    """The HTTP API's policy: only the page's own script and style, by hash, and WebSockets."""
    return (
        f"default-src 'none'; script-src {_inline_hashes(page, 'script')}; "
        f"style-src {_inline_hashes(page, 'style')}; connect-src {connect_src}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@dataclass(frozen=True)
class Served:
    body: str
    policy: str | None


@dataclass(frozen=True)
class PageServer:
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def serving(pages: dict[str, Served]) -> Iterator[PageServer]:
    """Serve `pages` by path (any query string) on a free loopback port, for the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served = pages.get(urlsplit(self.path).path)
            if served is None:
                self.send_error(404)
                return
            body = served.body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if served.policy is not None:
                self.send_header("Content-Security-Policy", served.policy)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the test's output is for failures

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield PageServer(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
