"""Token verification: what a valid token proves, and every way a bad one is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.identity import Identity
from switchboard.protocol import NAME_MAX, ROOM_PATTERN
from switchboard.tokens import (
    LEEWAY_SECONDS,
    SERVICE_ROLE,
    InvalidToken,
    KeysUnavailable,
    TokenSettings,
    TokenVerifier,
    identity_from_claims,
    mint,
    roles_from_claims,
)
from tests.support.jwks import JwksServer, KeyPair, ec_key, jwks_server, rsa_key
from tests.support.tokens import (
    AUDIENCE,
    ISSUER,
    OTHER_SECRET,
    SECRET,
    SUBJECT,
    b64json,
    compact,
    hmac_signed,
    hs256,
    payload,
    unsigned,
)

RSA_1, RSA_2, EC_1 = rsa_key("rsa-1"), rsa_key("rsa-2"), ec_key("ec-1")
PROPERTY = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def hs_verifier(*algorithms: str) -> TokenVerifier:
    return TokenVerifier(TokenSettings(ISSUER, AUDIENCE, algorithms or ("HS256",)), secret=SECRET)


def jwks_verifier(url: str, *algorithms: str) -> TokenVerifier:
    """As the authorizer builds it; a fresh client each time, so no key cache carries over."""
    client = jwt.PyJWKClient(url, cache_keys=True, timeout=5)
    return TokenVerifier(TokenSettings(ISSUER, AUDIENCE, algorithms), jwks_client=client)


def refused(token: str, verifier: TokenVerifier | None = None) -> str:
    """The InvalidToken message for `token`; fails the test if the token is accepted."""
    with pytest.raises(InvalidToken) as caught:
        (verifier or hs_verifier()).verify(token)
    return str(caught.value)


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    with jwks_server() as server:
        yield server


# -- what a good token proves -------------------------------------------------------------


def test_a_minted_token_round_trips() -> None:
    token = mint(
        SECRET,
        subject="user-42",
        name="Grace",
        rooms=["private:ops", "lobby", "private:ops"],
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    assert hs_verifier().verify(token) == Identity(
        user_id="user-42",
        name="Grace",
        rooms=frozenset({"private:ops", "lobby"}),
        anonymous=False,
    )


def test_mint_sets_the_registered_claims() -> None:
    token = mint(
        SECRET,
        subject="user-42",
        name="Grace",
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_seconds=600,
        now=1_800_000_000.7,
    )
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert jwt.decode(token, options={"verify_signature": False}) == {
        "sub": "user-42",
        "name": "Grace",
        "rooms": [],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": 1_800_000_000,
        "nbf": 1_800_000_000,
        "exp": 1_800_000_600,
    }


def test_a_minted_token_expires_after_its_ttl() -> None:
    token = mint(
        SECRET,
        subject="user-42",
        name="Grace",
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_seconds=60,
        now=time.time() - 60 - LEEWAY_SECONDS - 5,
    )
    assert refused(token).startswith("ExpiredSignatureError")


def test_clock_skew_within_the_leeway_is_tolerated() -> None:
    now = int(time.time())
    just_expired = payload(exp=now - LEEWAY_SECONDS + 10)
    not_quite_valid = payload(nbf=now + LEEWAY_SECONDS - 10, iat=now + LEEWAY_SECONDS - 10)
    assert hs_verifier().verify(hs256(just_expired)).user_id == SUBJECT
    assert hs_verifier().verify(hs256(not_quite_valid)).user_id == SUBJECT


# -- every denial ---------------------------------------------------------------------------


def test_forged_signature() -> None:
    message = refused(hs256(payload(), OTHER_SECRET))
    assert message == "InvalidSignatureError: Signature verification failed"


def test_tampered_claims_keep_the_old_signature() -> None:
    header, _, signature = hs256(payload()).split(".")
    tampered = f"{header}.{b64json(payload(rooms=['private:board']))}.{signature}"
    assert refused(tampered).startswith("InvalidSignatureError")


def test_expired_beyond_the_leeway() -> None:
    expired = payload(exp=int(time.time()) - LEEWAY_SECONDS - 10)
    assert refused(hs256(expired)) == "ExpiredSignatureError: Signature has expired"


def test_not_yet_valid_beyond_the_leeway() -> None:
    early = payload(nbf=int(time.time()) + LEEWAY_SECONDS + 60)
    assert refused(hs256(early)) == "ImmatureSignatureError: The token is not yet valid (nbf)"


def test_issued_in_the_future_beyond_the_leeway() -> None:
    early = payload(iat=int(time.time()) + LEEWAY_SECONDS + 60)
    assert refused(hs256(early)) == "ImmatureSignatureError: The token is not yet valid (iat)"


@pytest.mark.parametrize(
    "issuer",
    [
        "https://evil.example.test/switchboard",
        # Substrings and extensions: PyJWT 2.10.0 matched the issuer with `in` (CVE-2024-53861).
        ISSUER[:-1],
        ISSUER + "/x",
        ISSUER.upper(),
    ],
)
def test_wrong_issuer(issuer: str) -> None:
    assert refused(hs256(payload(iss=issuer))) == "InvalidIssuerError: Invalid issuer"


@pytest.mark.parametrize("audience", ["someone-elses-app", AUDIENCE[:-1], [f"{AUDIENCE}-admin"]])
def test_wrong_audience(audience: Any) -> None:
    assert refused(hs256(payload(aud=audience))) == "InvalidAudienceError: Audience doesn't match"


@pytest.mark.parametrize("claim", ["exp", "iss", "aud", "sub"])
def test_missing_required_claim(claim: str) -> None:
    message = refused(hs256(payload(drop=[claim])))
    assert message == f'MissingRequiredClaimError: Token is missing the "{claim}" claim'


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none(alg: str) -> None:
    token = unsigned(payload(), alg)
    assert token.endswith(".")
    assert refused(token).startswith("InvalidAlgorithmError")


def test_alg_none_with_a_signature_anyway() -> None:
    forged = compact({"alg": "none", "typ": "JWT"}, payload(), b"signature")
    assert refused(forged).startswith("InvalidAlgorithmError")


def test_alg_none_against_a_jwks_verifier(jwks: JwksServer) -> None:
    jwks.serve(RSA_1)
    verifier = jwks_verifier(jwks.url, "RS256")
    token = compact({"alg": "none", "typ": "JWT", "kid": RSA_1.kid}, payload())
    assert refused(token, verifier).startswith("InvalidAlgorithmError")


def test_algorithm_is_pinned_even_within_the_hmac_family() -> None:
    assert refused(hs256(payload(), algorithm="HS512")).startswith("InvalidAlgorithmError")


@pytest.mark.parametrize(
    "public_format",
    [serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1],
    ids=["spki_pem", "pkcs1_pem"],
)
def test_hs_rs_key_confusion_is_refused_by_an_rs256_verifier(
    jwks: JwksServer, public_format: serialization.PublicFormat
) -> None:
    jwks.serve(RSA_1)
    verifier = jwks_verifier(jwks.url, "RS256")
    header = {"alg": "HS256", "typ": "JWT", "kid": RSA_1.kid}
    token = hmac_signed(header, payload(), RSA_1.public_pem(public_format))
    message = refused(token, verifier)
    assert message == "InvalidAlgorithmError: The specified alg value is not allowed"


def test_an_hs256_verifier_refuses_an_rs256_token() -> None:
    message = refused(RSA_1.sign(payload()))
    assert message == "InvalidAlgorithmError: The specified alg value is not allowed"


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "...",
        "a.b.c",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9..",
        "x" * 9000,
        "ëÿJhbGciOiJIUzI1NiJ9.ñø.sïg",
        "токен.токен.токен",
        "\x00.\x00.\x00",
        " " + "a.b.c",
    ],
    ids=[
        "empty",
        "garbage",
        "three_dots",
        "three_segments_not_base64",
        "four_segments",
        "header_only",
        "huge",
        "non_ascii_latin",
        "non_ascii_cyrillic",
        "nul",
        "leading_space",
    ],
)
def test_malformed_token_strings(token: str) -> None:
    refused(token)


def test_an_oversized_token_is_refused_before_it_is_parsed() -> None:
    """Even correctly signed: 8 KiB bounds the work an unauthenticated caller can cause."""
    token = hs256(payload(padding="x" * 8192))
    assert len(token) > 8192
    assert refused(token) == "missing or oversized token"


def test_a_token_of_8192_characters_is_still_read() -> None:
    def padded(length: int) -> str:
        return hs256(payload(padding="x" * length))

    length = (8192 - len(padded(0))) * 3 // 4 - 8
    while len(padded(length + 1)) <= 8192:
        length += 1
    assert len(padded(length)) > 8185
    assert hs_verifier().verify(padded(length)).user_id == SUBJECT


def test_a_lone_surrogate_is_refused() -> None:
    refused("\udcff.\udcff.\udcff")


@pytest.mark.parametrize("subject", [12345, 1.5, True, ["user-1"], {"id": "user-1"}])
def test_sub_that_is_not_a_string(subject: Any) -> None:
    assert refused(hs256(payload(sub=subject))).startswith("InvalidSubjectError")


@pytest.mark.parametrize(
    "subject", [12345, None, ["user-1"], "", "u" * 129, "user\n1", "user\x001", "\u2028"]
)
def test_identity_from_claims_wants_a_printable_sub_of_1_to_128(subject: Any) -> None:
    with pytest.raises(InvalidToken) as caught:
        identity_from_claims({"sub": subject})
    assert str(caught.value) == "the sub claim must be 1-128 printable characters"


def test_a_sub_of_128_characters_is_accepted() -> None:
    assert identity_from_claims({"sub": "u" * 128}).user_id == "u" * 128


@pytest.mark.parametrize("rooms", [{"private:ops": True}, 5, True, None, 1.5])
def test_rooms_that_are_not_a_list(rooms: Any) -> None:
    assert refused(hs256(payload(rooms=rooms))) == ("the rooms claim must be a list of room names")


def test_rooms_are_filtered_to_valid_room_names() -> None:
    granted = [
        "private:ops",
        "lobby",
        "private:a,private:b",  # a comma would split into two grants in the context string
        "with space",
        "",
        "r" * 65,
        "r" * 64,
        "privé",
        5,
        None,
        ["private:nested"],
        {"room": "private:dict"},
    ]
    identity = hs_verifier().verify(hs256(payload(rooms=granted)))
    assert identity.rooms == frozenset({"private:ops", "lobby", "r" * 64})
    assert Identity.from_context(identity.to_context()) == identity


def test_rooms_as_a_space_separated_string() -> None:
    identity = hs_verifier().verify(hs256(payload(rooms="private:ops  lobby bad,room")))
    assert identity.rooms == frozenset({"private:ops", "lobby"})


def test_cognito_groups_are_the_rooms_when_there_is_no_rooms_claim() -> None:
    claims = {**payload(drop=["rooms"]), "cognito:groups": ["private:admins", "bad group"]}
    assert hs_verifier().verify(hs256(claims)).rooms == frozenset({"private:admins"})


def test_the_rooms_claim_wins_over_cognito_groups() -> None:
    claims = {**payload(rooms=["private:ops"]), "cognito:groups": ["private:admins"]}
    assert hs_verifier().verify(hs256(claims)).rooms == frozenset({"private:ops"})


def test_no_rooms_claim_means_no_private_rooms() -> None:
    assert hs_verifier().verify(hs256(payload(drop=["rooms"]))).rooms == frozenset()


@pytest.mark.parametrize(
    ("claims", "name"),
    [
        ({"name": "Ada", "cognito:username": "cog", "preferred_username": "pref"}, "Ada"),
        ({"cognito:username": "cog", "preferred_username": "pref"}, "cog"),
        ({"preferred_username": "pref"}, "pref"),
        ({}, SUBJECT),
        ({"name": "   ", "cognito:username": "cog"}, "cog"),
        ({"name": 7, "cognito:username": ["x"], "preferred_username": "pref"}, "pref"),
        ({"name": "bad\x00name", "preferred_username": "pref"}, "pref"),
        ({"name": "  Ada Lovelace  "}, "Ada Lovelace"),
    ],
    ids=[
        "name",
        "cognito_username",
        "preferred_username",
        "sub",
        "blank_skipped",
        "non_string_skipped",
        "unprintable_skipped",
        "stripped",
    ],
)
def test_name_fallback_order(claims: dict[str, Any], name: str) -> None:
    token = hs256(payload(drop=["name"], **claims))
    assert hs_verifier().verify(token).name == name


def test_names_are_truncated_to_name_max() -> None:
    assert NAME_MAX == 32
    long_name = "Augusta Ada King, Countess of Lovelace"
    assert hs_verifier().verify(hs256(payload(name=long_name))).name == long_name[:32]
    long_sub = "u" * 100
    identity = hs_verifier().verify(hs256(payload(sub=long_sub, drop=["name"])))
    assert (identity.user_id, identity.name) == (long_sub, "u" * 32)


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithms", "message"),
    [
        (("HS256", "RS256"), "configure either HMAC (HS*) or public-key (RS*/ES*) algorithms"),
        (("ES256", "HS512"), "configure either HMAC (HS*) or public-key (RS*/ES*) algorithms"),
        (("none",), "unsupported token algorithm(s): none"),
        (("HS256", "none"), "unsupported token algorithm(s): none"),
        (("hs256",), "unsupported token algorithm(s): hs256"),
        (("EdDSA",), "unsupported token algorithm(s): EdDSA"),
        ((), "at least one token algorithm must be configured"),
    ],
    ids=["hs_and_rs", "es_and_hs", "none", "hs_and_none", "lowercase", "eddsa", "empty"],
)
def test_token_settings_refuse(algorithms: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        TokenSettings(ISSUER, AUDIENCE, algorithms)
    assert str(caught.value) == message


@pytest.mark.parametrize("algorithms", [("HS256",), ("HS256", "HS512"), ("RS256", "ES256")])
def test_token_settings_accept(algorithms: tuple[str, ...]) -> None:
    assert TokenSettings(ISSUER, AUDIENCE, algorithms).algorithms == algorithms


def test_a_verifier_needs_the_key_its_algorithms_use() -> None:
    with pytest.raises(ValueError) as no_secret:
        TokenVerifier(TokenSettings(ISSUER, AUDIENCE, ("HS256",)), secret="")
    assert str(no_secret.value) == "HS* algorithms need a shared secret"
    with pytest.raises(ValueError) as no_jwks:
        TokenVerifier(TokenSettings(ISSUER, AUDIENCE, ("RS256",)), secret=SECRET)
    assert str(no_jwks.value) == "RS*/ES* algorithms need a JWKS URL"


# -- RS256 and ES256 through a JWKS ---------------------------------------------------------


@pytest.mark.parametrize("key", [RSA_1, EC_1], ids=["RS256", "ES256"])
def test_a_token_signed_by_a_published_key(jwks: JwksServer, key: KeyPair) -> None:
    jwks.serve(RSA_1, EC_1)
    identity = jwks_verifier(jwks.url, key.algorithm).verify(key.sign(payload()))
    assert identity == Identity(
        user_id=SUBJECT,
        name="Ada",
        rooms=frozenset({"lobby", "private:ops"}),
        anonymous=False,
    )


def test_the_key_set_is_fetched_once_for_many_tokens(jwks: JwksServer) -> None:
    jwks.serve(RSA_1)
    verifier = jwks_verifier(jwks.url, "RS256")
    before = jwks.requests
    for _ in range(5):
        verifier.verify(RSA_1.sign(payload()))
    assert jwks.requests - before == 1


def test_an_unknown_kid_is_refused(jwks: JwksServer) -> None:
    """Key rotation: a token from a key the provider does not (or no longer) publish."""
    jwks.serve(RSA_1)
    message = refused(RSA_2.sign(payload()), jwks_verifier(jwks.url, "RS256"))
    assert message == "no signing key for the token: PyJWKClientError"


def test_a_token_without_a_kid_is_refused(jwks: JwksServer) -> None:
    jwks.serve(RSA_1)
    message = refused(RSA_1.sign(payload(), kid=None), jwks_verifier(jwks.url, "RS256"))
    assert message == "no signing key for the token: PyJWKClientError"


def test_a_known_kid_signed_by_another_key_is_refused(jwks: JwksServer) -> None:
    jwks.serve(RSA_1)
    forged = RSA_2.sign(payload(), kid=RSA_1.kid)
    assert refused(forged, jwks_verifier(jwks.url, "RS256")).startswith("InvalidSignatureError")


def test_an_rs256_verifier_refuses_an_es256_token(jwks: JwksServer) -> None:
    jwks.serve(RSA_1, EC_1)
    message = refused(EC_1.sign(payload()), jwks_verifier(jwks.url, "RS256"))
    assert message == "InvalidAlgorithmError: The specified alg value is not allowed"


def test_claims_are_checked_for_jwks_tokens_too(jwks: JwksServer) -> None:
    jwks.serve(RSA_1)
    verifier = jwks_verifier(jwks.url, "RS256")
    assert refused(RSA_1.sign(payload(aud="other")), verifier).startswith("InvalidAudienceError")
    assert refused(RSA_1.sign(payload(iss="other")), verifier).startswith("InvalidIssuerError")
    expired = payload(exp=int(time.time()) - LEEWAY_SECONDS - 10)
    assert refused(RSA_1.sign(expired), verifier).startswith("ExpiredSignatureError")


def test_an_unreachable_jwks_refuses_as_an_outage_not_as_a_bad_token() -> None:
    with jwks_server() as gone:
        url = gone.url
    token = RSA_1.sign(payload())
    with pytest.raises(KeysUnavailable) as caught:
        jwks_verifier(url, "RS256").verify(token)
    assert not isinstance(caught.value, InvalidToken)
    assert str(caught.value).startswith("the JWKS URL did not answer: ")
    assert token not in str(caught.value)


def test_a_jwks_url_answering_with_no_json_is_an_outage_not_a_bad_token(jwks: JwksServer) -> None:
    jwks.serve_raw(b"<html><body>down for maintenance</body></html>")
    token = RSA_1.sign(payload())
    with pytest.raises(KeysUnavailable) as caught:
        jwks_verifier(jwks.url, "RS256").verify(token)
    assert str(caught.value) == "the JWKS URL did not answer with a JSON key set"


@pytest.mark.parametrize(
    ("algorithms", "signer", "kid"),
    [(("ES256",), EC_1, RSA_1.kid), (("RS256", "ES256"), RSA_1, EC_1.kid)],
    ids=["es256_naming_an_rsa_kid", "rs256_naming_an_ec_kid"],
)
def test_a_kid_whose_key_does_not_fit_the_alg_is_refused(
    jwks: JwksServer, algorithms: tuple[str, ...], signer: KeyPair, kid: str
) -> None:
    """A provider publishing RSA and EC keys is enough: the caller picks alg and kid."""
    jwks.serve(RSA_1, EC_1)
    refused(signer.sign(payload(), kid=kid), jwks_verifier(jwks.url, *algorithms))


# -- properties ------------------------------------------------------------------------------

#: Any text at all, lone surrogates included: a JWT is ASCII, anything else is refused.
any_text = st.text(max_size=400)
decoded_bytes = st.tuples(
    st.binary(max_size=400), st.sampled_from(["latin-1", "utf-8", "ascii", "cp1252"])
).map(lambda pair: pair[0].decode(pair[1], errors="replace"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
header_names = st.sampled_from(["alg", "typ", "kid", "crit", "b64", "jku", "x5u", "cty"])
algorithm_names = st.sampled_from(["none", "HS256", "HS512", "RS256", "ES256", "PS256", "XX"])
headers = st.builds(
    lambda extra, alg, kid: {**extra, "alg": alg, "kid": kid},
    st.dictionaries(header_names | st.text(max_size=5), json_values, max_size=4),
    algorithm_names | json_values,
    st.sampled_from(["rsa-1", "ec-1", "nope"]) | json_values,
)
claim_names = st.sampled_from(
    [
        "sub",
        "name",
        "rooms",
        "iss",
        "aud",
        "exp",
        "nbf",
        "iat",
        "cognito:groups",
        "cognito:username",
    ]
)
claims = st.dictionaries(claim_names | st.text(max_size=5), json_values, max_size=8)


@PROPERTY
@given(token=any_text | decoded_bytes)
def test_any_string_is_refused_with_invalid_token(token: str) -> None:
    refused(token)


@pytest.fixture(scope="module")
def verifiers() -> Iterator[list[TokenVerifier]]:
    """HS256, and RS256 and ES256 each over a key set of its own key type (a key set with
    both types is covered by the alg/kid mismatch tests above)."""
    with jwks_server() as rsa_only, jwks_server() as ec_only:
        rsa_only.serve(RSA_1)
        ec_only.serve(EC_1)
        yield [
            hs_verifier(),
            jwks_verifier(rsa_only.url, "RS256"),
            jwks_verifier(ec_only.url, "ES256"),
        ]


@PROPERTY
@given(header=headers, claims=claims, signature=st.binary(max_size=80))
def test_any_well_formed_but_unsigned_token_is_refused(
    verifiers: list[TokenVerifier],
    header: dict[str, Any],
    claims: dict[str, Any],
    signature: bytes,
) -> None:
    token = compact(header, claims, signature)
    for verifier in verifiers:
        refused(token, verifier)


@PROPERTY
@given(overrides=claims)
def test_a_signed_token_yields_invalid_token_or_a_sound_identity(overrides: dict[str, Any]) -> None:
    """Whatever the issuer put in the claims, the identity is one the context can carry."""
    # By hand: PyJWT's encode refuses some of these claims (a non-string iss), an issuer won't.
    token = hmac_signed({"alg": "HS256", "typ": "JWT"}, {**payload(), **overrides}, SECRET.encode())
    try:
        identity = hs_verifier().verify(token)
    except InvalidToken:
        return
    assert identity.user_id is not None and identity.name is not None
    assert not identity.anonymous
    assert 1 <= len(identity.name) <= NAME_MAX and identity.name.isprintable()
    assert all(ROOM_PATTERN.fullmatch(room) and "," not in room for room in identity.rooms)
    context = identity.to_context()
    assert all(isinstance(value, str) for value in context.values())
    json.dumps(context)
    assert Identity.from_context(context) == identity


def test_a_token_may_not_claim_a_guest_id() -> None:
    verifier = TokenVerifier(TokenSettings("iss", "aud", ("HS256",)), secret="s" * 32)
    token = mint("s" * 32, subject="guest:BFaT_fALIAMCKug=", name="x", issuer="iss", audience="aud")
    with pytest.raises(InvalidToken, match="may not start with 'guest:'"):
        verifier.verify(token)


# ---------------------------------------------------------------------------------- roles


def test_claims_are_the_verified_tokens_claims() -> None:
    claims = payload(roles=["service"], team="blue")
    assert hs_verifier().claims(hs256(claims)) == claims


@pytest.mark.parametrize(
    ("claims", "roles"),
    [
        ({"roles": ["service", "reader"]}, {"service", "reader"}),
        ({"roles": "service reader"}, {"service", "reader"}),
        ({"roles": ["service", 7, None]}, {"service"}),
        ({"cognito:groups": ["service", "private:ops"]}, {"service", "private:ops"}),
        ({"roles": [], "cognito:groups": ["service"]}, set()),
        ({}, set()),
    ],
)
def test_roles_from_claims(claims: dict[str, Any], roles: set[str]) -> None:
    assert roles_from_claims(claims) == roles


@pytest.mark.parametrize("value", [{"service": True}, 1, True])
def test_roles_that_are_no_list_are_refused(value: Any) -> None:
    with pytest.raises(InvalidToken, match=r"^the roles claim must be a list of role names$"):
        roles_from_claims({"roles": value})


def test_mint_adds_roles_only_when_asked() -> None:
    def minted(roles: list[str]) -> str:
        return mint(
            SECRET, subject="svc", name="svc", issuer=ISSUER, audience=AUDIENCE, roles=roles
        )

    with_role = hs_verifier().claims(minted([SERVICE_ROLE]))
    without = hs_verifier().claims(minted([]))
    assert with_role["roles"] == ["service"]
    assert "roles" not in without
