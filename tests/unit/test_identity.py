"""The identity the authorizer hands on: its context round trip, and who may enter which room."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.identity import Identity, is_private

ADA = Identity(
    user_id="user-0001",
    name="Ada",
    rooms=frozenset({"private:ops", "lobby", "private:board"}),
    anonymous=False,
)
GUEST = Identity(user_id=None, name=None)


def test_to_context_is_flat_strings_with_the_rooms_sorted_and_comma_joined() -> None:
    assert ADA.to_context() == {
        "userId": "user-0001",
        "name": "Ada",
        "rooms": "lobby,private:board,private:ops",
        "anonymous": "false",
    }


def test_a_guest_context() -> None:
    assert GUEST.anonymous
    assert GUEST.to_context() == {"userId": "", "name": "", "rooms": "", "anonymous": "true"}


@pytest.mark.parametrize(
    "identity",
    [
        ADA,
        Identity(user_id="u", name="U", rooms=frozenset(), anonymous=False),
        Identity(user_id="u", name="U", rooms=frozenset({"private:only"}), anonymous=False),
        GUEST,
    ],
    ids=["rooms", "no_rooms", "one_room", "guest"],
)
def test_context_round_trip(identity: Identity) -> None:
    assert Identity.from_context(identity.to_context()) == identity


def test_from_context_as_api_gateway_delivers_it() -> None:
    """`requestContext.authorizer` holds the context beside principalId and the latency."""
    delivered = {**ADA.to_context(), "principalId": "user-0001", "integrationLatency": 42}
    assert Identity.from_context(delivered) == ADA


def test_principal_id_stands_in_for_a_missing_user_id() -> None:
    context = {"principalId": "user-0002", "name": "Bob", "anonymous": "false"}
    assert Identity.from_context(context) == Identity(
        user_id="user-0002", name="Bob", rooms=frozenset(), anonymous=False
    )


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"anonymous": "true"},
        {"anonymous": "TRUE"},
        {"anonymous": True},
        # Fail closed: a context that does not say "false" is a guest, whatever else it claims.
        {"userId": "user-0001", "name": "Ada", "rooms": "private:ops"},
        {"userId": "user-0001", "rooms": "private:ops", "anonymous": "true"},
        {"userId": "user-0001", "rooms": "private:ops", "anonymous": "no"},
        {"userId": "user-0001", "rooms": "private:ops", "anonymous": ""},
    ],
    ids=[
        "missing",
        "true",
        "TRUE",
        "boolean_true",
        "no_anonymous_field",
        "anonymous_with_grants",
        "not_a_boolean",
        "empty",
    ],
)
def test_anonymous_when_the_context_does_not_say_otherwise(context: dict[str, Any]) -> None:
    identity = Identity.from_context(context)
    assert identity == GUEST
    assert not identity.may_enter("private:ops")


@pytest.mark.parametrize("anonymous", ["false", "False", False])
def test_authenticated_when_the_context_says_anonymous_false(anonymous: Any) -> None:
    context = {"userId": "user-0001", "name": "Ada", "rooms": "", "anonymous": anonymous}
    assert not Identity.from_context(context).anonymous


def test_empty_room_names_in_the_context_are_ignored() -> None:
    context = {"userId": "u", "name": "U", "rooms": ",private:a,,", "anonymous": "false"}
    assert Identity.from_context(context).rooms == frozenset({"private:a"})


@pytest.mark.parametrize(
    ("room", "private"),
    [
        ("lobby", False),
        ("private:ops", True),
        ("private:", True),
        ("privateops", False),
        ("Private:ops", False),
        ("ops:private:", False),
    ],
)
def test_private_rooms_are_the_ones_named_private_colon(room: str, private: bool) -> None:
    assert is_private(room) is private


@pytest.mark.parametrize(
    ("identity", "room", "allowed"),
    [
        (GUEST, "lobby", True),
        (GUEST, "private:ops", False),
        # A guest's rooms never count, however the identity came to hold them.
        (Identity(user_id=None, name=None, rooms=frozenset({"private:ops"})), "private:ops", False),
        (ADA, "lobby", True),
        (ADA, "anything-public", True),
        (ADA, "private:ops", True),
        (ADA, "private:board", True),
        (ADA, "private:payroll", False),
        # Exact names only: a grant is no prefix of other rooms.
        (ADA, "private:ops2", False),
        (ADA, "private:op", False),
        (Identity(user_id="u", name="U", anonymous=False), "private:ops", False),
    ],
    ids=[
        "guest_public",
        "guest_private",
        "guest_holding_a_grant",
        "user_public",
        "user_other_public",
        "user_granted",
        "user_granted_other",
        "user_not_granted",
        "user_grant_is_not_a_prefix",
        "user_prefix_of_grant",
        "user_without_grants",
    ],
)
def test_may_enter(identity: Identity, room: str, allowed: bool) -> None:
    assert identity.may_enter(room) is allowed
