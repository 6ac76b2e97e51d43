"""`$disconnect`: everything of the connection goes, its rooms hear it left, and twice is fine.

Presence is per user: a user still connected elsewhere in a room has not left it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support import management_api
from tests.support.events import connection_id
from tests.support.management_api import ManagementFaults, clear, received, recipients
from tests.support.stack import Stack

Keys = Callable[[], set[tuple[str, str]]]
Items = Callable[[], list[dict[str, Any]]]
ADA, BOB, CY = connection_id(1), connection_id(2), connection_id(3)


def test_removes_everything_and_tells_each_room(stack: Stack, keys: Keys) -> None:
    for cid, name in ((ADA, "ada"), (BOB, "bob"), (CY, "cy")):
        stack.connect(cid, name=name)
    stack.send(ADA, {"action": "join", "room": "dev"})
    stack.send(BOB, {"action": "join", "room": "dev"})
    clear()
    assert stack.disconnect(ADA) == {"statusCode": 200}
    left = {
        "type": "left",
        "name": "ada",
        "connectionId": ADA,
        "userId": f"guest:{ADA}",
        "guest": True,
    }
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
        (f"USER#guest:{BOB}", f"CONN#{BOB}"),
        (f"USER#guest:{CY}", f"CONN#{CY}"),
        ("ROOMS", "ROOM#dev"),  # the room list's entry, which expires on its own
    }


def test_is_idempotent(stack: Stack, keys: Keys) -> None:
    stack.connect(ADA, name="ada")
    stack.connect(BOB, name="bob")
    assert stack.disconnect(ADA) == {"statusCode": 200}
    clear()
    assert stack.disconnect(ADA) == {"statusCode": 200}
    assert recipients() == set(), "a second disconnect announces nothing"
    assert keys() == {
        (f"CONN#{BOB}", "META"),
        ("ROOM#lobby", f"CONN#{BOB}"),
        (f"USER#guest:{BOB}", f"CONN#{BOB}"),
    }


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
    assert keys() == {
        (f"CONN#{CY}", "META"),
        ("ROOM#lobby", f"CONN#{CY}"),
        (f"USER#guest:{CY}", f"CONN#{CY}"),
        (f"CONN#{BOB}", "DEPARTED"),  # kept for BOB's own $disconnect, which is coming
    }
    assert recipients() == {CY}


def test_a_connection_pruned_before_its_disconnect_still_tells_its_rooms(
    stack: Stack, faults: ManagementFaults, keys: Keys
) -> None:
    # ADA's client has gone; API Gateway answers 410 for it, but its $disconnect runs only
    # after a message to the room has already found it gone and pruned it.
    for cid, name in ((ADA, "ada"), (BOB, "bob"), (CY, "cy")):
        stack.connect(cid, name=name)
        stack.send(cid, {"action": "join", "room": "dev"})
    faults.fail(ADA, management_api.gone)
    sent = stack.send(BOB, {"action": "sendmessage", "room": "dev", "data": "hi"})
    assert sent["pruned"] == 1
    clear()

    assert stack.disconnect(ADA) == {"statusCode": 200}

    assert [(m["type"], m["room"]) for m in received(CY)] == [("left", "dev"), ("left", "lobby")]
    assert all(m["connectionId"] == ADA for m in received(CY))
    assert not {k for k in keys() if ADA in k[0] or ADA in k[1]}, "the note is taken"
    clear()
    assert stack.disconnect(ADA) == {"statusCode": 200}
    assert recipients() == set(), "taken once: a second $disconnect announces nothing"


def test_room_mates_that_cannot_be_reached_do_not_fail_the_disconnect(
    stack: Stack, faults: ManagementFaults, keys: Keys
) -> None:
    for cid in (ADA, BOB):
        stack.connect(cid)
    faults.fail(BOB, management_api.forbidden)
    assert stack.disconnect(ADA) == {"statusCode": 200}
    assert faults.attempts[BOB] == 1
    assert (f"CONN#{ADA}", "META") not in keys()


def test_a_user_leaves_a_room_with_their_last_connection(stack: Stack, items: Items) -> None:
    """ada on two connections: the first to go is silent, the last one says she left."""
    ada_1, ada_2 = ADA, connection_id(11)
    stack.connect_as(ada_1, "u-ada", "ada")
    stack.connect_as(ada_2, "u-ada", "ada")
    stack.connect_as(BOB, "u-bob", "bob")
    for cid in (ada_1, ada_2, BOB):
        stack.send(cid, {"action": "join", "room": "dev"})
    clear()
    assert stack.disconnect(ada_1) == {"statusCode": 200}
    assert recipients() == set(), "ada is still in dev and the lobby on her other connection"
    assert stack.disconnect(ada_2) == {"statusCode": 200}
    left = {"type": "left", "name": "ada", "connectionId": ada_2, "userId": "u-ada"}
    assert received(BOB) == [{**left, "room": "dev"}, {**left, "room": "lobby"}]
    assert recipients() == {BOB}
    assert {(i["PK"]["S"], i["SK"]["S"]) for i in items()} == {
        (f"CONN#{BOB}", "META"),
        ("ROOM#lobby", f"CONN#{BOB}"),
        ("ROOM#dev", f"CONN#{BOB}"),
        ("USER#u-bob", f"CONN#{BOB}"),
        ("ROOMS", "ROOM#dev"),
    }, "a full scan finds nothing of ada's"


def test_a_guest_always_announces_leaving(stack: Stack) -> None:
    for cid in (ADA, BOB):
        stack.connect(cid, name="twin")
    clear()
    assert stack.disconnect(ADA) == {"statusCode": 200}
    assert received(BOB) == [
        {
            "type": "left",
            "room": "lobby",
            "name": "twin",
            "connectionId": ADA,
            "userId": f"guest:{ADA}",
            "guest": True,
        }
    ]
