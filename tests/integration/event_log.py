"""The events the fixture handlers received, as they recorded them (one JSON file per event).

Kinds: `authorizer`, `connect`, `message`, `disconnect`. A test tags each of its connections
with a unique `?tag=` so that it can find that connection's events, and its id, among all
others of the session.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Event = dict[str, Any]


def new_tag() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Record:
    kind: str
    function: str
    event: Event

    @property
    def connection_id(self) -> str:
        return str(self.event["requestContext"]["connectionId"])

    @property
    def tag(self) -> str | None:
        query = self.event.get("queryStringParameters") or {}
        value = query.get("tag")
        return str(value) if value is not None else None


class EventLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def records(self, kind: str | None = None) -> list[Record]:
        found = []
        for path in sorted(self.directory.glob("*.json")):
            document = json.loads(path.read_text(encoding="utf-8"))
            if kind is None or document["kind"] == kind:
                found.append(Record(document["kind"], document["function"], document["event"]))
        return found

    def tagged(self, kind: str, tag: str) -> list[Record]:
        return [record for record in self.records(kind) if record.tag == tag]

    def of_connection(self, kind: str, connection_id: str) -> list[Record]:
        return [record for record in self.records(kind) if record.connection_id == connection_id]

    async def wait_for(
        self,
        kind: str,
        matches: Callable[[Record], bool],
        timeout: float = 10.0,
        what: str = "",
    ) -> Record:
        """The first record of `kind` that `matches`, polling until `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.records(kind):
                if matches(record):
                    return record
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind} event {what or 'matching'} within {timeout} s")
            await asyncio.sleep(0.02)

    async def connect_of(self, tag: str, timeout: float = 10.0) -> Record:
        return await self.wait_for(
            "connect", lambda record: record.tag == tag, timeout, f"tagged {tag}"
        )

    async def disconnect_of(self, connection_id: str, timeout: float = 10.0) -> Record:
        return await self.wait_for(
            "disconnect",
            lambda record: record.connection_id == connection_id,
            timeout,
            f"of connection {connection_id}",
        )
