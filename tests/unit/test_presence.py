"""`joined` / `left` events and their announcement to the room's other members."""

from __future__ import annotations

import pytest

from switchboard.broadcast import FanoutResult
from switchboard.config import Config
from switchboard.presence import announce, presence_event
from switchboard.runtime import Runtime
from switchboard.store import Connection
from tests.support.events import connection_id
from tests.support.management_api import received, recipients
from tests.unit.conftest import MANAGEMENT_ENDPOINT

ADA = Connection(connection_id=connection_id(1), name="ada", connected_at=1, expires_at=2)


@pytest.mark.parametrize("kind", ["joined", "left"])
def test_presence_event(kind: str) -> None:
    assert presence_event(kind, "dev", ADA) == {  # type: ignore[arg-type]
        "type": kind,
        "room": "dev",
        "name": "ada",
        "connectionId": ADA.connection_id,
    }


def test_presence_event_carries_the_user_id_when_known() -> None:
    who = Connection(connection_id="c", name="bob", connected_at=1, expires_at=2, user_id="u-7")
    assert presence_event("joined", "dev", who)["userId"] == "u-7"


def test_announce_tells_the_other_members_only(table: str) -> None:
    runtime = Runtime(Config.from_env())
    bob = Connection(
        connection_id=connection_id(2),
        name="bob",
        connected_at=1,
        expires_at=2,
        rooms=frozenset({"dev"}),
    )
    runtime.store.add_connection(bob)
    runtime.store.add_connection(
        Connection(
            connection_id=ADA.connection_id,
            name="ada",
            connected_at=1,
            expires_at=2,
            rooms=frozenset({"dev"}),
        )
    )
    result = announce(runtime.broadcaster(MANAGEMENT_ENDPOINT), "left", "dev", ADA)
    assert result == FanoutResult(delivered=1)
    assert received(bob.connection_id) == [
        {"type": "left", "room": "dev", "name": "ada", "connectionId": ADA.connection_id}
    ]
    assert recipients() == {bob.connection_id}
