"""The HTTP API's own settings, read once from the environment template.yaml sets.

The table, log level and `@connections` endpoint are the shared `switchboard.config`; the
token settings are the authorizer's (`AuthConfig`). What only this API needs is where
browsers reach the WebSocket API, for the chat page.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from switchboard.errors import ConfigError


@dataclass(frozen=True)
class HttpSettings:
    #: `wss://{api}.execute-api.{region}.amazonaws.com/{stage}` (locally `ws://127.0.0.1:3001/...`);
    #: None when not configured: the page then has no server to connect to.
    websocket_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HttpSettings:
        env = os.environ if environ is None else environ
        url = env.get("WEBSOCKET_URL", "").strip() or None
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("ws", "wss") or not parts.hostname:
                raise ConfigError(f"WEBSOCKET_URL must be a ws:// or wss:// URL, got {url!r}")
        return cls(websocket_url=url)

    @property
    def management_endpoint(self) -> str | None:
        """The stage's `@connections` API, `https://` where the WebSocket API is `wss://`."""
        if self.websocket_url is None:
            return None
        parts = urlsplit(self.websocket_url)
        scheme = "https" if parts.scheme == "wss" else "http"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
