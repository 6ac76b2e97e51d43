"""The Lambda entry point of `HttpApiFunction`: the app behind Mangum, for HTTP API events
(payload format 2.0). Built at import, so a bad setting fails the cold start, not a request.
"""

from __future__ import annotations

from mangum import Mangum

from switchboard.http_api.app import create_app

app = create_app()
# No lifespan: the app has no startup work; clients are created on first use (runtime.py).
handler = Mangum(app, lifespan="off")
