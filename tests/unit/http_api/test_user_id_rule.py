"""One length for a user id: the longest `sub` the verifier accepts is a user the HTTP API and
`sendto` can address, and one character more is refused by all three (the HTTP API once
allowed 160 while tokens stopped at 128, so it documented ids no user could have).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from switchboard.errors import BadRequest
from switchboard.protocol import user_field
from switchboard.tokens import InvalidToken, TokenSettings, TokenVerifier
from tests.support.events import connection_id
from tests.support.management_api import recipients
from tests.support.stack import Stack
from tests.support.tokens import AUDIENCE, ISSUER, SECRET, hs256, payload

LONGEST = "u" * 128
ADA = connection_id(1)
VERIFIER = TokenVerifier(TokenSettings(ISSUER, AUDIENCE, ("HS256",)), secret=SECRET)


def test_the_openapi_user_id_is_as_long_as_the_longest_sub(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    [parameter] = [
        p
        for p in spec["paths"]["/users/{userId}/messages"]["post"]["parameters"]
        if p["name"] == "userId"
    ]
    longest = parameter["schema"]["maxLength"]
    assert VERIFIER.verify(hs256(payload(sub="u" * longest))).user_id == "u" * longest
    with pytest.raises(InvalidToken, match="1-128 printable"):
        VERIFIER.verify(hs256(payload(sub="u" * (longest + 1))))


def test_the_longest_sub_is_addressable(
    client: TestClient, service: dict[str, str], chat: Stack
) -> None:
    identity = VERIFIER.verify(hs256(payload(sub=LONGEST)))
    chat.connect_with_context(ADA, identity.to_context())
    response = client.post(f"/users/{LONGEST}/messages", json={"data": 1}, headers=service)
    assert response.status_code == 200, response.text
    assert response.json()["delivered"] == 1
    assert recipients() == {ADA}
    assert user_field({"to": LONGEST}) == LONGEST


def test_one_character_more_is_refused_everywhere(
    client: TestClient, service: dict[str, str], chat: Stack
) -> None:
    too_long = LONGEST + "u"
    response = client.post(f"/users/{too_long}/messages", json={"data": 1}, headers=service)
    assert response.status_code == 422
    assert response.json()["message"].startswith("invalid request: path.userId: ")
    with pytest.raises(BadRequest, match="1-128 printable"):
        user_field({"to": too_long})
    with pytest.raises(InvalidToken, match="1-128 printable"):
        VERIFIER.verify(hs256(payload(sub=too_long)))
    assert recipients() == set()
