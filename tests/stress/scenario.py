"""What the load and fault tests share: their report row, injected faults, the table's records.

A scenario records its row whatever happens: `held` when the test body finishes, `lost` when
an assertion (a guarantee) fails, `crashed` on anything else (the gateway died, a timeout),
with the figures gathered so far and the first line of the failure. The test still fails;
the row only shows it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.integration.aws_clients import dynamodb_client
from tests.integration.chat_app import CONNECTION_ITEMS, TABLE
from tests.integration.local_gateway import LocalGateway
from tests.plugins.stress_report import Record
from tests.support.dynamodb import items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

_INJECTED = re.compile(r"switchboard\.local\.faults: injected (\S+): (.*)$", re.MULTILINE)


@dataclass
class Row:
    """The figures of a scenario, filled in as it runs."""

    figures: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.figures.append(text)

    def text(self) -> str:
        return "; ".join(self.figures)


@contextmanager
def scenario(report: Record, name: str, injected: str) -> Iterator[Row]:
    row = Row()
    try:
        yield row
    except AssertionError as error:
        report(name, injected, "lost", _with_failure(row, error))
        raise
    except BaseException as error:
        report(name, injected, "crashed", _with_failure(row, error))
        raise
    report(name, injected, "held", row.text())


def _with_failure(row: Row, error: BaseException) -> str:
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
    return "; ".join([*row.figures, f"FAILED: {first}"])


def fault_flags(*faults: str) -> list[str]:
    """`--inject-fault` flags for `NAME=VALUE` items."""
    return [flag for fault in faults for flag in ("--inject-fault", fault)]


def injected(gateway: LocalGateway) -> Counter[str]:
    """How many faults of each kind the gateway (and its DynamoDB) injected so far."""
    return Counter(match.group(1) for match in _INJECTED.finditer(gateway.stderr()))


def injected_details(gateway: LocalGateway, fault: str) -> list[str]:
    return [m.group(2) for m in _INJECTED.finditer(gateway.stderr()) if m.group(1) == fault]


def connection_records(dynamodb: DynamoDBClient) -> dict[str, set[tuple[str, str]]]:
    """The connection items in the table by the connection they belong to (departure
    notes, which outlive the connection, are `departure_notes`)."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for item in items(dynamodb, TABLE):
        pk, sk = item["PK"]["S"], item["SK"]["S"]
        if not pk.startswith(CONNECTION_ITEMS) or sk == "DEPARTED":
            continue
        owner = pk.removeprefix("CONN#") if sk == "META" else sk.removeprefix("CONN#")
        found[owner].add((pk, sk))
    return dict(found)


def departure_notes(dynamodb: DynamoDBClient) -> dict[str, dict[str, Any]]:
    """The notes pruned connections left for their `$disconnect`, by connection id."""
    return {
        item["PK"]["S"].removeprefix("CONN#"): item
        for item in items(dynamodb, TABLE)
        if item["PK"]["S"].startswith("CONN#") and item["SK"]["S"] == "DEPARTED"
    }


def expected_records(connection_id: str, rooms: set[str]) -> set[tuple[str, str]]:
    """A guest's items: its record, its user index, one membership per room."""
    member = f"CONN#{connection_id}"
    return {(member, "META"), (f"USER#guest:{connection_id}", member)} | {
        (f"ROOM#{room}", member) for room in rooms
    }


def meta_items(dynamodb: DynamoDBClient) -> dict[str, dict[str, Any]]:
    """Connection records by id."""
    return {
        item["connectionId"]["S"]: item
        for item in items(dynamodb, TABLE)
        if item["PK"]["S"].startswith("CONN#") and item["SK"]["S"] == "META"
    }


async def wait_for_records(
    gateway: LocalGateway, wanted: dict[str, set[tuple[str, str]]], timeout: float = 30
) -> dict[str, set[tuple[str, str]]]:
    """Until the table's connection items are exactly `wanted` (or the time is up)."""
    dynamodb = dynamodb_client(gateway.dynamodb_endpoint)
    deadline = time.monotonic() + timeout
    while True:
        found = await asyncio.to_thread(connection_records, dynamodb)
        if found == wanted or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)
