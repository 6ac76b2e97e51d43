"""What must hold of the table after anything at all was sent: no half-written state.

Every connection record has exactly the memberships its `rooms` set names and the user index
its `userId` implies; every membership and user index belongs to a live record that names
it; every item expires; history items are whole messages of a valid room; registered rooms
are valid rooms. A check returns the violations it finds (empty: consistent), so a failing
example shows all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from switchboard.protocol import MAX_NESTING, MAX_ROOMS_PER_CONNECTION, ROOM_PATTERN

_MESSAGE_KEY = re.compile(r"\d{13}#[0-9a-f]{32}")


def violations(items: Iterable[dict[str, Any]]) -> list[str]:
    found: list[str] = []
    by_key = {(item["PK"]["S"], item["SK"]["S"]): item for item in items}
    records = {
        pk[5:]: item for (pk, sk), item in by_key.items() if pk.startswith("CONN#") and sk == "META"
    }
    for key, item in by_key.items():
        if "expiresAt" not in item or "N" not in item["expiresAt"]:
            found.append(f"{key} has no expiresAt")
    for connection_id, record in records.items():
        found += _record_violations(connection_id, record, by_key)
    for (pk, sk), item in by_key.items():
        if pk.startswith("ROOM#"):
            found += _membership_violations(pk[5:], sk, item, records)
        elif pk.startswith("USER#"):
            found += _user_index_violations(pk[5:], sk, records)
        elif pk.startswith("MSG#"):
            found += _message_violations(pk[4:], sk, item)
        elif pk == "ROOMS":
            # The room registry (room_index.py) may outlive members; it must name a room.
            if not sk.startswith("ROOM#") or not ROOM_PATTERN.fullmatch(sk[5:]):
                found.append(f"registry item of an invalid room {sk!r}")
        elif pk.startswith("CONN#") and sk == "DEPARTED":
            # A pruned connection's record, kept for its $disconnect: the record is gone.
            if pk[5:] in records:
                found.append(f"departure note of {pk[5:]}, which still has its record")
        elif not (pk.startswith("CONN#") and sk == "META"):
            found.append(f"unknown item {(pk, sk)}")
    return found


def _record_violations(
    connection_id: str, record: dict[str, Any], by_key: dict[tuple[str, str], Any]
) -> list[str]:
    found = []
    if record["SK"]["S"] != "META" or record.get("connectionId", {}).get("S") != connection_id:
        found.append(f"connection record {connection_id} is malformed: {record}")
    rooms = record.get("rooms", {}).get("SS", [])
    if len(rooms) > MAX_ROOMS_PER_CONNECTION:
        found.append(f"{connection_id} is in {len(rooms)} rooms")
    for room in rooms:
        if not ROOM_PATTERN.fullmatch(room):
            found.append(f"{connection_id} is in an invalid room {room!r}")
        if (f"ROOM#{room}", f"CONN#{connection_id}") not in by_key:
            found.append(f"{connection_id} names room {room!r} but has no membership item")
    user_id = record.get("userId", {}).get("S")
    if user_id and (f"USER#{user_id}", f"CONN#{connection_id}") not in by_key:
        found.append(f"{connection_id} of user {user_id!r} has no user index item")
    return found


def _membership_violations(
    room: str, sk: str, item: dict[str, Any], records: dict[str, dict[str, Any]]
) -> list[str]:
    connection_id = sk.removeprefix("CONN#")
    record = records.get(connection_id)
    if record is None:
        return [f"orphaned membership of {connection_id} in {room!r}"]
    if room not in record.get("rooms", {}).get("SS", []):
        return [f"membership of {connection_id} in {room!r} its record does not name"]
    if item.get("name") != record.get("name") or item.get("userId") != record.get("userId"):
        return [f"membership of {connection_id} in {room!r} disagrees with its record"]
    return []


def _user_index_violations(user_id: str, sk: str, records: dict[str, dict[str, Any]]) -> list[str]:
    connection_id = sk.removeprefix("CONN#")
    record = records.get(connection_id)
    if record is None:
        return [f"orphaned user index {user_id!r} of {connection_id}"]
    if record.get("userId", {}).get("S") != user_id:
        return [f"user index {user_id!r} of {connection_id} disagrees with its record"]
    return []


def _message_violations(room: str, sk: str, item: dict[str, Any]) -> list[str]:
    found = []
    if not ROOM_PATTERN.fullmatch(room) or not _MESSAGE_KEY.fullmatch(sk):
        found.append(f"history item with a malformed key {('MSG#' + room, sk)}")
    try:
        data = json.loads(item["data"]["S"])
        item["data"]["S"].encode("utf-8")
        item["from"]["M"]["name"]["S"].encode("utf-8")
    except (KeyError, ValueError, UnicodeError, RecursionError) as error:
        return [*found, f"history item {sk} of {room!r} cannot be read back: {error!r}"]
    # Stored data is read back inside a page inside a reply: it must leave that room to nest.
    if _nesting(data) >= MAX_NESTING:
        found.append(f"history item {sk} of {room!r} nests {_nesting(data)} levels")
    return found


def _nesting(value: Any) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            pending.extend(
                (child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)
            )
    return deepest
