"""Refuse request bodies too large to be worth parsing, before anything reads them.

A message must fit one `@connections` POST (128 KB) once enveloped, and
`protocol.encode_deliverable` answers exactly that with 413. But the request body is JSON
that may be written longer than its compact re-encoding (white space, `\\u00e9` escapes: at
most six bytes for one byte of UTF-8), so the cut here is generous, 1 MiB: anything larger
can never be delivered, and is refused without being parsed.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard.http_api.error_replies import error_response

MAX_BODY_BYTES = 1024 * 1024


class BodyLimit:
    """ASGI middleware: 413 for a declared or streamed body over `max_bytes`.

    The body is read here, at most `max_bytes` of it, and handed on whole: FastAPI turns any
    error while it reads a body into a 400, so the limit cannot be enforced from inside.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away: let the app see it as it would have.
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = error_response(
            413,
            f"the request body is over {self.max_bytes} bytes; a message must fit one "
            "@connections POST (128 KB)",
        )
        await response(scope, _nothing_more, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that first answers `messages`, then whatever the client sends next."""
    pending = list(messages)

    async def replaying() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replaying


async def _nothing_more() -> Message:
    return {"type": "http.disconnect"}
