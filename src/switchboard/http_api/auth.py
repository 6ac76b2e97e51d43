"""Who may call the HTTP API: a backend holding a token with the `service` role.

The token is a JWT of the same scheme the `$connect` authorizer verifies, checked by the
same per-container verifier (issuer, audience, expiry, the algorithm pinned by the stack;
the HS256 secret from Secrets Manager or the provider's JWKS). On top of that, its `roles`
claim (or its Cognito groups) must include `service`: a user's token, however valid, may
chat but not push as a backend.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from switchboard.errors import Forbidden, NotAuthenticated
from switchboard.handlers.authorizer import verifier
from switchboard.tokens import (
    SERVICE_ROLE,
    InvalidToken,
    KeysUnavailable,
    identity_from_claims,
    roles_from_claims,
)

log = logging.getLogger("switchboard.http_api")
#: When a caller may try again after the JWKS URL failed to answer: the verifier fetches the
#: keys anew on the next request, and a provider's hiccup is usually over by then.
KEYS_RETRY_AFTER_SECONDS = 30

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="serviceToken",
    bearerFormat="JWT",
    description=f'A token of the stack\'s JWT scheme whose `roles` claim lists "{SERVICE_ROLE}". '
    "Locally: `switchboard token NAME --service`.",
)


@dataclass(frozen=True)
class Service:
    """The backend a request comes from: the token's `sub` and display name."""

    user_id: str
    name: str

    def sender(self) -> dict[str, Any]:
        """How it appears in `from` of what it sends: never a connection, always a service."""
        return {"name": self.name, "userId": self.user_id, "service": True}


def require_service(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Service:
    if credentials is None:
        raise NotAuthenticated(
            "missing bearer token: send 'Authorization: Bearer <token>' with a service token"
        )
    _config, token_verifier = verifier()
    try:
        claims = token_verifier.claims(credentials.credentials)
        identity = identity_from_claims(claims)
        roles = roles_from_claims(claims)
    except KeysUnavailable as error:
        # Not the token's fault: a 401 would make the caller throw away a good token.
        log.error("token keys unavailable", extra={"reason": str(error)})
        raise HTTPException(
            503,
            detail="the token cannot be checked now: the token issuer's signing keys (JWKS) "
            f"did not answer; retry in {KEYS_RETRY_AFTER_SECONDS} s",
            headers={"Retry-After": str(KEYS_RETRY_AFTER_SECONDS)},
        ) from None
    except InvalidToken as error:
        # Why it was refused (expired, wrong audience, bad signature...), never the token.
        raise NotAuthenticated(
            f"invalid token: {error}", challenge='Bearer error="invalid_token"'
        ) from None
    if SERVICE_ROLE not in roles:
        raise Forbidden(f'the token of "{identity.user_id}" lacks the "{SERVICE_ROLE}" role')
    return Service(user_id=str(identity.user_id), name=identity.name or str(identity.user_id))


ServiceCaller = Annotated[Service, Depends(require_service)]
