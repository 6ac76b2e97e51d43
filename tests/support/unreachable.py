"""A JWKS URL on 127.0.0.1 where nothing listens: the provider's outage, played for real."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def unreachable_jwks_url() -> Iterator[str]:
    """`http://127.0.0.1:PORT/.well-known/jwks.json`, refused at once while the block runs.

    The port stays bound, never listening, so no other test's server can take it meanwhile
    and a fetch gets "connection refused" rather than someone else's answer.
    """
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}/.well-known/jwks.json"
