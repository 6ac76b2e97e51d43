"""The per-container runtime: built once, lazily; clients configured for the fan-out."""

from __future__ import annotations

import threading

import pytest

from switchboard import runtime
from switchboard.config import Config
from switchboard.errors import ConfigError
from switchboard.runtime import Runtime
from tests.support.events import connection_id
from tests.support.management_api import received
from tests.support.stack import Stack
from tests.unit.conftest import MANAGEMENT_ENDPOINT, TABLE_NAME

EVENT_ENDPOINT = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod"


def test_current_is_built_once_and_reset_drops_it() -> None:
    first = runtime.current()
    assert runtime.current() is first
    assert first.config.table_name == TABLE_NAME
    runtime.reset()
    assert runtime.current() is not first


def test_set_runtime_replaces_it() -> None:
    mine = Runtime(Config(table_name="other"))
    runtime.set_runtime(mine)
    assert runtime.current() is mine


def test_current_fails_on_bad_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLE_NAME")
    with pytest.raises(ConfigError) as raised:
        runtime.current()
    assert str(raised.value) == "TABLE_NAME is not set: it must name the DynamoDB table"


def test_the_store_is_created_once(aws: None) -> None:
    rt = Runtime(Config.from_env())
    assert rt.store is rt.store
    assert rt.store.table_name == TABLE_NAME


def test_history_is_created_once_on_the_stores_client(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HISTORY_RETENTION_DAYS", "3")
    rt = Runtime(Config.from_env())
    assert rt.history is rt.history
    assert rt.history.retention_seconds == 3 * 86400
    assert rt.history._db is rt.store._db, "one DynamoDB client (and pool) per container"


def test_background_work_runs_beside_the_caller(aws: None) -> None:
    rt = Runtime(Config.from_env())
    threads: list[str] = []
    rt.in_background(lambda: threads.append(threading.current_thread().name)).result(timeout=5)
    assert len(threads) == 1
    assert threads[0] != threading.current_thread().name
    assert threads[0].startswith("bg")


def test_management_client_matches_the_pool_and_never_retries_itself(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FANOUT_CONCURRENCY", "12")
    rt = Runtime(Config.from_env())
    settings = vars(rt.broadcaster(EVENT_ENDPOINT)._api.meta.config)
    assert settings["max_pool_connections"] == 12
    assert settings["retries"] == {"mode": "standard", "total_max_attempts": 1}


def test_configured_endpoint_wins_over_the_event(aws: None) -> None:
    rt = Runtime(Config.from_env())
    fanout = rt.broadcaster("https://elsewhere.example/prod")
    assert fanout._api.meta.endpoint_url == MANAGEMENT_ENDPOINT
    assert rt.broadcaster("https://elsewhere.example/prod") is fanout


def test_without_configuration_the_event_endpoint_is_used(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MANAGEMENT_ENDPOINT")
    rt = Runtime(Config.from_env())
    assert rt.broadcaster(EVENT_ENDPOINT)._api.meta.endpoint_url == EVENT_ENDPOINT
    other = "https://z9y8x7w6v5.execute-api.us-east-1.amazonaws.com/dev"
    assert rt.broadcaster(other)._api.meta.endpoint_url == other
    assert rt.broadcaster(other) is not rt.broadcaster(EVENT_ENDPOINT)


@pytest.mark.parametrize(
    "variable", ["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "AWS_ENDPOINT_URL"]
)
def test_standard_endpoint_variables_keep_working(
    variable: str, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MANAGEMENT_ENDPOINT")
    monkeypatch.setenv(variable, "http://127.0.0.1:3001/local")
    rt = Runtime(Config.from_env())
    assert rt.broadcaster(EVENT_ENDPOINT)._api.meta.endpoint_url == "http://127.0.0.1:3001/local"


def test_messages_reach_clients_through_the_events_endpoint(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In AWS MANAGEMENT_ENDPOINT may be unset: https://{domainName}/{stage} must work."""
    monkeypatch.delenv("MANAGEMENT_ENDPOINT")
    ada, bob = connection_id(1), connection_id(2)
    stack.connect(ada)
    stack.connect(bob)
    assert stack.send(ada, {"action": "sendmessage", "data": "via the event"})["delivered"] == 1
    assert [m["data"] for m in received(bob)] == ["via the event"]
