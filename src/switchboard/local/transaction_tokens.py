"""`ClientRequestToken` of TransactWriteItems, honoured as DynamoDB does it (moto ignores it).

botocore fills the token in once per call and sends the same one on every retry. So when a
transaction was applied but its answer was lost (a 500, a dropped connection), the retry
carries the same token, and DynamoDB answers it as it answered the first time instead of
applying it again: without this, a retried `$connect` would fail its own
`attribute_not_exists` condition and leave records behind for a refused connection.
For ten minutes a token answers the same request with the first answer, and a different
request with `IdempotentParameterMismatchException`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

WINDOW_SECONDS = 600.0
#: What a transaction answers unless it asked for consumed capacity or item metrics; kept as
#: None, since the window holds every transaction of ten minutes.
_EMPTY = b"{}"


class TransactionTokens:
    """Successful transactions by token, forgotten after the idempotency window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # Insertion order is time order: expiry pops from the front.
        self._seen: OrderedDict[str, tuple[float, bytes, bytes | None]] = OrderedDict()

    def replay(self, request: dict[str, Any]) -> bytes | Mismatch | None:
        """The first answer to this token and request; None when the token is new."""
        self._expire()
        token = request.get("ClientRequestToken")
        if not isinstance(token, str) or token not in self._seen:
            return None
        _, digest, answer = self._seen[token]
        if digest != _digest(request):
            return Mismatch(token)
        return _EMPTY if answer is None else answer

    def remember(self, request: dict[str, Any], answer: bytes) -> None:
        token = request.get("ClientRequestToken")
        if isinstance(token, str):
            kept = None if answer == _EMPTY else answer
            self._seen[token] = (self._clock(), _digest(request), kept)

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self) -> None:
        horizon = self._clock() - WINDOW_SECONDS
        while self._seen:
            token, (when, _, _) = next(iter(self._seen.items()))
            if when >= horizon:
                return
            del self._seen[token]


class Mismatch:
    """The token was used before with other parameters."""

    def __init__(self, token: str) -> None:
        self.token = token

    message = "Request has the same client token as a previous request, but the parameters differ"


def _digest(request: dict[str, Any]) -> bytes:
    # The parameters without the token itself, in a canonical form.
    rest = {key: value for key, value in request.items() if key != "ClientRequestToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).digest()[:16]
