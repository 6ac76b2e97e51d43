"""Config.from_env: defaults, the variables template.yaml sets, and messages naming the variable."""

from __future__ import annotations

import dataclasses
import re

import pytest

from switchboard.config import MAX_CONNECTION_SECONDS, Config
from switchboard.errors import ConfigError, SwitchboardError
from tests.support import template

TABLE = {"TABLE_NAME": "connections"}


def test_defaults_with_only_the_table() -> None:
    config = Config.from_env(TABLE)
    assert config == Config(
        table_name="connections",
        management_endpoint=None,
        fanout_concurrency=32,
        connection_ttl_seconds=MAX_CONNECTION_SECONDS + 300,
        log_level="INFO",
        history_retention_seconds=7 * 86400,
    )


def test_every_variable() -> None:
    config = Config.from_env(
        {
            "TABLE_NAME": " connections ",
            "MANAGEMENT_ENDPOINT": "https://abc.execute-api.eu-west-1.amazonaws.com/prod/",
            "FANOUT_CONCURRENCY": "64",
            "CONNECTION_TTL_SECONDS": "3600",
            "LOG_LEVEL": "debug",
            "HISTORY_RETENTION_DAYS": "30",
            "LOG_PREVIEW_CHARS": "16",
        }
    )
    assert config.table_name == "connections"
    assert config.management_endpoint == "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
    assert config.fanout_concurrency == 64
    assert config.connection_ttl_seconds == 3600
    assert config.log_level == "DEBUG"
    assert config.history_retention_seconds == 30 * 86400
    assert config.log_preview_chars == 16


@pytest.mark.parametrize(("days", "seconds"), [("0", 0), ("1", 86400), ("3650", 3650 * 86400)])
def test_history_retention_is_read_in_days_and_kept_in_seconds(days: str, seconds: int) -> None:
    assert Config.from_env({**TABLE, "HISTORY_RETENTION_DAYS": days}).history_retention_seconds == (
        seconds
    )


def test_blank_optional_values_mean_defaults() -> None:
    config = Config.from_env(
        {**TABLE, "MANAGEMENT_ENDPOINT": " ", "FANOUT_CONCURRENCY": "", "LOG_LEVEL": ""}
    )
    assert config.management_endpoint is None
    assert config.fanout_concurrency == 32
    assert config.log_level == "INFO"


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "from-the-environment")
    monkeypatch.setenv("FANOUT_CONCURRENCY", "7")
    config = Config.from_env()
    assert (config.table_name, config.fanout_concurrency) == ("from-the-environment", 7)


def test_the_connection_ttl_outlives_the_longest_connection() -> None:
    assert Config.from_env(TABLE).connection_ttl_seconds > 2 * 60 * 60


def test_is_frozen() -> None:
    config = Config.from_env(TABLE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.table_name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "TABLE_NAME is not set: it must name the DynamoDB table"),
        ({"TABLE_NAME": "   "}, "TABLE_NAME is not set: it must name the DynamoDB table"),
        (
            {**TABLE, "MANAGEMENT_ENDPOINT": "abc.execute-api.us-east-1.amazonaws.com/prod"},
            "MANAGEMENT_ENDPOINT must be an http(s) URL, "
            "got 'abc.execute-api.us-east-1.amazonaws.com/prod'",
        ),
        (
            {**TABLE, "MANAGEMENT_ENDPOINT": "wss://abc/prod"},
            "MANAGEMENT_ENDPOINT must be an http(s) URL, got 'wss://abc/prod'",
        ),
        (
            {**TABLE, "FANOUT_CONCURRENCY": "lots"},
            "FANOUT_CONCURRENCY must be a whole number, got 'lots'",
        ),
        (
            {**TABLE, "FANOUT_CONCURRENCY": "2.5"},
            "FANOUT_CONCURRENCY must be a whole number, got '2.5'",
        ),
        (
            {**TABLE, "FANOUT_CONCURRENCY": "0"},
            "FANOUT_CONCURRENCY must be between 1 and 256, got 0",
        ),
        (
            {**TABLE, "FANOUT_CONCURRENCY": "257"},
            "FANOUT_CONCURRENCY must be between 1 and 256, got 257",
        ),
        (
            {**TABLE, "CONNECTION_TTL_SECONDS": "59"},
            "CONNECTION_TTL_SECONDS must be between 60 and 86400, got 59",
        ),
        (
            {**TABLE, "CONNECTION_TTL_SECONDS": "7200000"},
            "CONNECTION_TTL_SECONDS must be between 60 and 86400, got 7200000",
        ),
        (
            {**TABLE, "LOG_LEVEL": "verbose"},
            "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'VERBOSE'",
        ),
        (
            {**TABLE, "HISTORY_RETENTION_DAYS": "-1"},
            "HISTORY_RETENTION_DAYS must be between 0 and 3650, got -1",
        ),
        (
            {**TABLE, "HISTORY_RETENTION_DAYS": "3651"},
            "HISTORY_RETENTION_DAYS must be between 0 and 3650, got 3651",
        ),
        (
            {**TABLE, "HISTORY_RETENTION_DAYS": "7d"},
            "HISTORY_RETENTION_DAYS must be a whole number, got '7d'",
        ),
        (
            {**TABLE, "LOG_PREVIEW_CHARS": "257"},
            "LOG_PREVIEW_CHARS must be between 0 and 256, got 257",
        ),
        (
            {**TABLE, "LOG_PREVIEW_CHARS": "all"},
            "LOG_PREVIEW_CHARS must be a whole number, got 'all'",
        ),
    ],
)
def test_missing_or_malformed_values_name_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$") as raised:
        Config.from_env(environ)
    assert isinstance(raised.value, SwitchboardError)


def test_accepts_what_template_yaml_sets() -> None:
    """The template's Globals name exactly the variables Config reads, with valid values."""
    variables = template.function_environment()
    assert set(variables) == {
        "TABLE_NAME",
        "MANAGEMENT_ENDPOINT",
        "LOG_LEVEL",
        "LOG_PREVIEW_CHARS",
        "HISTORY_RETENTION_DAYS",
    }
    assert variables["HISTORY_RETENTION_DAYS"] == {"Ref": "HistoryRetentionDays"}
    retention = template.template()["Parameters"]["HistoryRetentionDays"]
    endpoint = variables["MANAGEMENT_ENDPOINT"]["Fn::Sub"]
    rendered = {
        "TABLE_NAME": "stack-ConnectionsTable-1A2B3C",
        "MANAGEMENT_ENDPOINT": endpoint.replace("${WebSocketApi}", "a1b2c3d4e5")
        .replace("${AWS::Region}", "us-east-1")
        .replace("${AWS::URLSuffix}", "amazonaws.com")
        .replace("${StageName}", "prod"),
        "LOG_LEVEL": template.template()["Parameters"]["LogLevel"]["Default"],
        "HISTORY_RETENTION_DAYS": str(retention["Default"]),
        "LOG_PREVIEW_CHARS": str(template.template()["Parameters"]["LogPreviewChars"]["Default"]),
    }
    config = Config.from_env(rendered)
    assert config.management_endpoint == (
        "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"
    )
    for level in template.template()["Parameters"]["LogLevel"]["AllowedValues"]:
        assert Config.from_env({**rendered, "LOG_LEVEL": level}).log_level == level
    assert config.history_retention_seconds == 7 * 86400
    # The parameter's bounds are the ones Config accepts: no deployable value fails at start.
    assert (retention["MinValue"], retention["MaxValue"]) == (0, 3650)
    for days in (retention["MinValue"], retention["MaxValue"]):
        config = Config.from_env({**rendered, "HISTORY_RETENTION_DAYS": str(days)})
        assert config.history_retention_seconds == days * 86400
    preview = template.template()["Parameters"]["LogPreviewChars"]
    assert config.log_preview_chars == 0, "no body is logged unless the stack asks"
    for chars in (preview["MinValue"], preview["MaxValue"]):
        assert Config.from_env({**rendered, "LOG_PREVIEW_CHARS": str(chars)}).log_preview_chars == (
            chars
        )
