"""Configuration, read once from the environment variables that template.yaml sets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from switchboard.errors import ConfigError

#: API Gateway closes every connection after two hours; records must not outlive that.
MAX_CONNECTION_SECONDS = 7200


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
