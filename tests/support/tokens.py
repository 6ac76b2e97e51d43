"""Tokens for the authentication tests: good ones, and each kind of bad one, made by hand.

PyJWT refuses to produce some of the attacks (`alg: none` with a signature, HS256 keyed
with a PEM public key), so those are put together here from base64url segments.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from switchboard.tokens import LEEWAY_SECONDS
from tests.support.jwks import rsa_key

#: 64 bytes: RFC 7518 wants HMAC keys at least as long as the hash (HS512 included).
SECRET = "switchboard-unit-test-secret-" + "0123456789abcdef" * 2 + "-hs512-long"
OTHER_SECRET = "an-attackers-guess-at-the-secret-" + "fedcba9876543210" * 2 + "-also-long"
ISSUER = "https://auth.example.test/switchboard"
AUDIENCE = "switchboard-chat"
SUBJECT = "user-0001"


def payload(*, drop: Iterable[str] = (), now: float | None = None, **claims: Any) -> dict[str, Any]:
    """Claims of a token valid for the next hour, less `drop`; keywords replace or add claims."""
    issued = int(time.time() if now is None else now)
    made: dict[str, Any] = {
        "sub": SUBJECT,
        "name": "Ada",
        "rooms": ["lobby", "private:ops"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued,
        "nbf": issued,
        "exp": issued + 3600,
    }
    for name in drop:
        del made[name]
    made.update(claims)
    return made


def hs256(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """`header.payload.signature` exactly as given, signed or not."""
    return f"{b64json(header)}.{b64json(claims)}.{b64url(signature)}"


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    """The `alg: none` token: no key, empty signature."""
    return compact({"alg": alg, "typ": "JWT"}, claims)


def hmac_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """HS256 computed by hand, with any bytes as the key (PyJWT refuses PEM keys here)."""
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def key_confusion(kid: str = "rsa-1") -> str:
    """HS256 keyed with the provider's public RSA key: what an HS/RS confusion attack sends."""
    public_pem = rsa_key(kid).public_pem(serialization.PublicFormat.SubjectPublicKeyInfo)
    return hmac_signed({"alg": "HS256", "typ": "JWT", "kid": kid}, payload(), public_pem)


def _later(seconds: int) -> int:
    return int(time.time()) + seconds


#: Every token the HS256 authorizer must refuse, built when called (they depend on the clock).
BAD_HS256_TOKENS: dict[str, Callable[[], str]] = {
    "forged_signature": lambda: hs256(payload(), OTHER_SECRET),
    "expired": lambda: hs256(payload(exp=_later(-LEEWAY_SECONDS - 30))),
    "not_yet_valid": lambda: hs256(payload(nbf=_later(LEEWAY_SECONDS + 60))),
    "wrong_issuer": lambda: hs256(payload(iss="https://evil.example.test/switchboard")),
    "wrong_audience": lambda: hs256(payload(aud="someone-elses-app")),
    "missing_exp": lambda: hs256(payload(drop=["exp"])),
    "missing_iss": lambda: hs256(payload(drop=["iss"])),
    "missing_aud": lambda: hs256(payload(drop=["aud"])),
    "missing_sub": lambda: hs256(payload(drop=["sub"])),
    "alg_none": lambda: unsigned(payload()),
    "rs256_for_an_hs256_verifier": lambda: rsa_key("rsa-1").sign(payload()),
    "hs256_keyed_with_a_public_key": key_confusion,
    "hs512_with_the_right_secret": lambda: hs256(payload(), algorithm="HS512"),
    "garbage": lambda: "garbage",
    "three_dots": lambda: "...",
    "huge": lambda: hs256(payload(padding="x" * 9000)),
    "non_ascii": lambda: "ëÿJhbGciOiJIUzI1NiJ9.ñø.sïg",
    "sub_not_a_string": lambda: hs256(payload(sub=12345)),
    "rooms_not_a_list": lambda: hs256(payload(rooms={"private:ops": True})),
}
