"""`GET /`: the chat page, with the WebSocket URL filled in and a strict CSP.

The page (`static/index.html`) reads where to connect from
`<meta name="switchboard-websocket-url" content="__WEBSOCKET_URL__">`; the placeholder is
replaced by the HTML-escaped `WEBSOCKET_URL`. Its Content-Security-Policy allows exactly
the page's own inline `<script>` and `<style>` elements, by their SHA-256 hashes, and
WebSocket connections; nothing else loads, no other script runs (injected markup
included), and no other site may frame the page. Connections may go to any ws:/wss:
server because the page lets its user name another (`?ws=`, or the form when no URL is
configured); with no script but the page's own, that is no way out for injected code.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi.responses import HTMLResponse

from switchboard.http_api.settings import HttpSettings

PLACEHOLDER = "__WEBSOCKET_URL__"
#: Inline elements whose text the policy allows by hash; scripts with `src` load nothing here.
_INLINE = re.compile(r"<(script|style)(?:\s[^>]*)?>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Page:
    html: str
    content_security_policy: str


def _hashes(document: str, element: str) -> list[str]:
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
        for name, text in _INLINE.findall(document)
        if name.lower() == element
    ]


def render(template: str, settings: HttpSettings) -> Page:
    document = template.replace(PLACEHOLDER, html.escape(settings.websocket_url or "", quote=True))
    policy = "; ".join(
        (
            "default-src 'none'",
            "script-src " + (" ".join(_hashes(document, "script")) or "'none'"),
            "style-src " + (" ".join(_hashes(document, "style")) or "'none'"),
            "connect-src ws: wss:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )
    return Page(document, policy)


@cache
def template_text() -> str:
    """The page as packaged (read once per container)."""
    return (
        resources.files("switchboard.http_api")
        .joinpath("static/index.html")
        .read_text(encoding="utf-8")
    )


@cache
def _page(settings: HttpSettings) -> Page:
    return render(template_text(), settings)


def page_response(settings: HttpSettings) -> HTMLResponse:
    page = _page(settings)
    return HTMLResponse(
        page.html,
        headers={
            "Content-Security-Policy": page.content_security_policy,
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
        },
    )
