"""`$disconnect`: everything of the connection goes, its rooms hear it left, and twice is fine."""

from __future__ import annotations

from collections.abc import Callable

from tests.support import management_api
from tests.support.events import connection_id
from tests.support.management_api import ManagementFaults, clear, received, recipients
from tests.support.stack import Stack

Keys = Callable[[], set[tuple[str, str]]]
ADA, BOB, CY = connection_id(1), connection_id(2), connection_id(3)


def test_removes_everything_and_tells_each_room(stack: Stack, keys: Keys) -> None:
    for cid, name in ((ADA, "ada"), (BOB, "bob"), (CY, "cy")):
        stack.connect(cid, name=name)
    stack.send(ADA, {"action": "join", "room": "dev"})
    stack.send(BOB, {"action": "join", "room": "dev"})
    clear()
    assert stack.disconnect(ADA) == {"statusCode": 200}
    left = {"type": "left", "name": "ada", "connectionId": ADA}
    assert received(BOB) == [{**left, "room": "dev"}, {**left, "room": "lobby"}]
    assert received(CY) == [{**left, "room": "lobby"}]
    assert received(ADA) == []
    assert not {k for k in keys() if ADA in k[0] or ADA in k[1]}
    assert keys() == {
        (f"CONN#{BOB}", "META"),
        (f"CONN#{CY}", "META"),
        ("ROOM#lobby", f"CONN#{BOB}"),
        ("ROOM#lobby", f"CONN#{CY}"),
        ("ROOM#dev", f"CONN#{BOB}"),
    }


def test_is_idempotent(stack: Stack, keys: Keys) -> None:
    stack.connect(ADA, name="ada")
    stack.connect(BOB, name="bob")
    assert stack.disconnect(ADA) == {"statusCode": 200}
    clear()
    assert stack.disconnect(ADA) == {"statusCode": 200}
    assert recipients() == set(), "a second disconnect announces nothing"
    assert keys() == {(f"CONN#{BOB}", "META"), ("ROOM#lobby", f"CONN#{BOB}")}


def test_of_a_connection_never_recorded(stack: Stack, keys: Keys) -> None:
    assert stack.disconnect(ADA) == {"statusCode": 200}
    assert keys() == set()
    assert recipients() == set()


def test_stale_room_mates_are_pruned_on_the_way_out(
    stack: Stack, faults: ManagementFaults, keys: Keys
) -> None:
    for cid in (ADA, BOB, CY):
        stack.connect(cid)
    faults.fail(BOB, management_api.gone)
    assert stack.disconnect(ADA) == {"statusCode": 200}
    assert keys() == {(f"CONN#{CY}", "META"), ("ROOM#lobby", f"CONN#{CY}")}
    assert recipients() == {CY}


def test_room_mates_that_cannot_be_reached_do_not_fail_the_disconnect(
    stack: Stack, faults: ManagementFaults, keys: Keys
) -> None:
    for cid in (ADA, BOB):
        stack.connect(cid)
    faults.fail(BOB, management_api.forbidden)
    assert stack.disconnect(ADA) == {"statusCode": 200}
    assert faults.attempts[BOB] == 1
    assert (f"CONN#{ADA}", "META") not in keys()
