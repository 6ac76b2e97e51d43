"""JSON Web Tokens: verified with PyJWT, the algorithm pinned by configuration.

Two ways to trust a token: a shared secret (HS256, the secret kept in Secrets Manager) or
the signing keys of an OpenID Connect provider's JWKS URL (RS256/ES256: Amazon Cognito
user pools, Auth0, Okta, ...). Issuer, audience and expiry are always checked; the
algorithm list comes from configuration and never from the token, so `alg: none` and
HS/RS key confusion are refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from switchboard.config import ASYMMETRIC, SYMMETRIC
from switchboard.errors import SwitchboardError
from switchboard.identity import GUEST_PREFIX, Identity
from switchboard.protocol import NAME_MAX, ROOM_PATTERN, USER_ID_MAX, is_user_id

#: Clock skew tolerated on exp, nbf and iat.
LEEWAY_SECONDS = 30
#: The role a token must list in its `roles` claim to use the HTTP API (a trusted backend).
SERVICE_ROLE = "service"


class InvalidToken(SwitchboardError):
    """The token is not acceptable; the message says why (never the token itself)."""


class KeysUnavailable(SwitchboardError):
    """The JWKS URL did not answer, so no token can be checked now: an outage of the
    provider, not a bad token (whose holder would then throw away a good one)."""


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    audience: str
    algorithms: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.algorithms:
            raise ValueError("at least one token algorithm must be configured")
        unknown = set(self.algorithms) - SYMMETRIC - ASYMMETRIC
        if unknown:
            raise ValueError(f"unsupported token algorithm(s): {', '.join(sorted(unknown))}")
        if set(self.algorithms) & SYMMETRIC and set(self.algorithms) & ASYMMETRIC:
            # Mixing them is how HS/RS key confusion starts.
            raise ValueError("configure either HMAC (HS*) or public-key (RS*/ES*) algorithms")


class TokenVerifier:
    """Checks a token and returns the identity it proves."""

    def __init__(
        self,
        settings: TokenSettings,
        *,
        secret: str | None = None,
        jwks_client: jwt.PyJWKClient | None = None,
    ) -> None:
        symmetric = set(settings.algorithms) <= SYMMETRIC
        if symmetric and not secret:
            raise ValueError("HS* algorithms need a shared secret")
        if not symmetric and jwks_client is None:
            raise ValueError("RS*/ES* algorithms need a JWKS URL")
        self._settings = settings
        self._secret = secret
        self._jwks = jwks_client if not symmetric else None

    def verify(self, token: str) -> Identity:
        return identity_from_claims(self.claims(token))

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims, once its signature, issuer, audience and times check out."""
        if not token or len(token) > 8192:
            raise InvalidToken("missing or oversized token")
        if not token.isascii():
            raise InvalidToken("the token is not ASCII")
        try:
            key: Any = self._secret
            if self._jwks is not None:
                # The PyJWK itself, not its raw key: PyJWT then refuses a token whose alg
                # does not fit the key it names (an ES256 header on an RSA key, say).
                key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(self._settings.algorithms),
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWKClientConnectionError as error:
            # Before PyJWKClientError, its base class: unreachable keys say nothing of the token.
            raise KeysUnavailable(f"the JWKS URL did not answer: {error}") from None
        except json.JSONDecodeError:
            # PyJWT lets this one through: the URL answered with something not JSON (a
            # provider's error page), again nothing to do with the token.
            raise KeysUnavailable("the JWKS URL did not answer with a JSON key set") from None
        except jwt.PyJWKClientError as error:
            raise InvalidToken(f"no signing key for the token: {type(error).__name__}") from None
        except jwt.PyJWTError as error:
            raise InvalidToken(f"{type(error).__name__}: {error}") from None
        return claims


def identity_from_claims(claims: Mapping[str, Any]) -> Identity:
    subject = validate_subject(claims.get("sub"))
    name = _first_string(claims, ("name", "cognito:username", "preferred_username")) or subject
    name = name.strip()[:NAME_MAX] or subject[:NAME_MAX]
    granted = claims.get("rooms", claims.get("cognito:groups", []))
    if isinstance(granted, str):
        granted = granted.split()
    if not isinstance(granted, list):
        raise InvalidToken("the rooms claim must be a list of room names")
    rooms = frozenset(r for r in granted if isinstance(r, str) and ROOM_PATTERN.fullmatch(r))
    return Identity(user_id=subject, name=name, rooms=rooms, anonymous=False)


def validate_subject(subject: Any) -> str:
    """A `sub` claim a token may carry: a user id, and not a guest's.

    `switchboard token` checks its `--user-id` here too, so it never mints a token that
    the verifier would refuse.
    """
    if not is_user_id(subject):
        raise InvalidToken(f"the sub claim must be 1-{USER_ID_MAX} printable characters")
    if subject.startswith(GUEST_PREFIX):
        # Guest ids belong to anonymous connections; a token may not claim one.
        raise InvalidToken(f"the sub claim may not start with {GUEST_PREFIX!r}")
    return subject


def roles_from_claims(claims: Mapping[str, Any]) -> frozenset[str]:
    """The token's roles: its `roles` claim (a list, or one space-separated string), else its
    Cognito groups, so that a user pool group named `service` can grant the role."""
    granted = claims.get("roles", claims.get("cognito:groups", []))
    if isinstance(granted, str):
        granted = granted.split()
    if not isinstance(granted, list):
        raise InvalidToken("the roles claim must be a list of role names")
    return frozenset(role for role in granted if isinstance(role, str))


def _first_string(claims: Mapping[str, Any], names: Iterable[str]) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value.strip() and value.isprintable():
            return value
    return None


def mint(
    secret: str,
    *,
    subject: str,
    name: str,
    rooms: Iterable[str] = (),
    roles: Iterable[str] = (),
    issuer: str,
    audience: str,
    ttl_seconds: int = 3600,
    algorithm: str = "HS256",
    now: float | None = None,
) -> str:
    """A signed token, for development (`switchboard token`) and tests."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": subject,
        "name": name,
        "rooms": sorted(set(rooms)),
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
    }
    if roles:
        claims["roles"] = sorted(set(roles))
    return jwt.encode(claims, secret, algorithm=algorithm)
