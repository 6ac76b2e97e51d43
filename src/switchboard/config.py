"""Configuration, read once from the environment variables that template.yaml sets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from switchboard.errors import ConfigError

#: Token algorithms: HMAC with a shared secret, or public keys from a JWKS. Never mixed.
SYMMETRIC = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"})

#: API Gateway closes every connection after two hours; records must not outlive that.
MAX_CONNECTION_SECONDS = 7200
#: A preview, not a copy: longer bodies are never logged whole.
MAX_LOG_PREVIEW_CHARS = 256


@dataclass(frozen=True)
class Config:
    """Settings of one Lambda container (or one local worker process)."""

    table_name: str
    #: `https://{api}.execute-api.{region}.amazonaws.com/{stage}`; empty means "derive it from
    #: the event", which is right in AWS but not locally, where the gateway sets it.
    management_endpoint: str | None = None
    fanout_concurrency: int = 32
    connection_ttl_seconds: int = MAX_CONNECTION_SECONDS + 300
    log_level: str = "INFO"
    #: How long room messages are kept; 0 turns history off.
    history_retention_seconds: int = 7 * 86400
    #: How many characters of a message body the invocation log line may show; 0 (the
    #: default) logs none. Bodies are the users' words: show a preview only to debug.
    log_preview_chars: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        table = env.get("TABLE_NAME", "").strip()
        if not table:
            raise ConfigError("TABLE_NAME is not set: it must name the DynamoDB table")
        endpoint = env.get("MANAGEMENT_ENDPOINT", "").strip() or None
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"MANAGEMENT_ENDPOINT must be an http(s) URL, got {endpoint!r}")
        return cls(
            table_name=table,
            management_endpoint=endpoint.rstrip("/") if endpoint else None,
            fanout_concurrency=_int(env, "FANOUT_CONCURRENCY", 32, 1, 256),
            connection_ttl_seconds=_int(
                env, "CONNECTION_TTL_SECONDS", MAX_CONNECTION_SECONDS + 300, 60, 86400
            ),
            log_level=_log_level(env),
            history_retention_seconds=_int(env, "HISTORY_RETENTION_DAYS", 7, 0, 3650) * 86400,
            log_preview_chars=_int(env, "LOG_PREVIEW_CHARS", 0, 0, MAX_LOG_PREVIEW_CHARS),
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _log_level(env: Mapping[str, str]) -> str:
    level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return level


@dataclass(frozen=True)
class AuthConfig:
    """Settings of the `$connect` authorizer, from the variables template.yaml sets."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    allow_anonymous: bool = False
    #: Secrets Manager id (name or ARN) of the HS256 secret; empty in JWKS mode.
    secret_id: str | None = None
    jwks_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthConfig:
        env = os.environ if environ is None else environ
        algorithms = tuple(
            a.strip().upper() for a in env.get("TOKEN_ALGORITHMS", "HS256").split(",") if a.strip()
        )
        secret_id = env.get("TOKEN_SECRET_ID", "").strip() or None
        jwks_url = env.get("JWKS_URL", "").strip() or None
        if jwks_url is not None:
            url = urlsplit(jwks_url)
            # Plain http only to this machine (tests, local providers); keys fetched from
            # anywhere else must come over TLS.
            if not (
                url.scheme == "https" or (url.scheme == "http" and url.hostname == "127.0.0.1")
            ):
                raise ConfigError(f"JWKS_URL must be an https URL, got {jwks_url!r}")
        if (jwks_url is None) == (secret_id is None):
            raise ConfigError(
                "set exactly one of TOKEN_SECRET_ID (shared secret) and JWKS_URL (OIDC provider)"
            )
        if not algorithms:
            raise ConfigError(
                "TOKEN_ALGORITHMS is empty: name the algorithm tokens are signed with"
            )
        unknown = set(algorithms) - SYMMETRIC - ASYMMETRIC
        if unknown:
            raise ConfigError(f"TOKEN_ALGORITHMS has unsupported {', '.join(sorted(unknown))}")
        expected = SYMMETRIC if secret_id is not None else ASYMMETRIC
        if not set(algorithms) <= expected:
            raise ConfigError(
                "TOKEN_ALGORITHMS must be HS* with TOKEN_SECRET_ID and RS*/ES* with JWKS_URL, "
                f"got {','.join(algorithms)}"
            )
        for name in ("TOKEN_ISSUER", "TOKEN_AUDIENCE"):
            if not env.get(name, "").strip():
                raise ConfigError(f"{name} is not set: tokens must name their issuer and audience")
        anonymous = env.get("ALLOW_ANONYMOUS", "false").strip().lower()
        if anonymous not in {"true", "false"}:
            raise ConfigError(f"ALLOW_ANONYMOUS must be true or false, got {anonymous!r}")
        return cls(
            issuer=env["TOKEN_ISSUER"].strip(),
            audience=env["TOKEN_AUDIENCE"].strip(),
            algorithms=algorithms,
            allow_anonymous=anonymous == "true",
            secret_id=secret_id,
            jwks_url=jwks_url,
        )
