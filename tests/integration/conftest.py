"""Gateways shared by the integration tests: one per template for the whole session.

Each start costs about two seconds, so tests that do not disturb each other share one:
connections are tagged or named uniquely, and every test closes what it opens. Tests that
need other flags (short timeouts) or end the gateway (Ctrl-C) start their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.event_log import EventLog
from tests.integration.local_gateway import (
    APP_TEMPLATE,
    COMPOSED_TEMPLATE,
    FIXTURE_TEMPLATE,
    LocalGateway,
    running_gateway,
)

#: Below the default 29 s, so a stuck handler fails its test sooner (timeout tests have their own).
INTEGRATION_TIMEOUT = 10.0
#: Set in the gateway's own environment: a function must not see it (Lambda would not).
LEAK_CANARY = {"LEAK_CANARY": "the gateway's environment leaked into a function"}


@pytest.fixture(scope="session")
def event_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fixture-events")


@pytest.fixture(scope="session")
def event_log(event_dir: Path) -> EventLog:
    return EventLog(event_dir)


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-logs")


@pytest.fixture(scope="session")
def fixture_gateway(event_dir: Path, logs_dir: Path) -> Iterator[LocalGateway]:
    """The fixture app (echo, slow, crash, environments, authorizer), timeout 3 s."""
    with running_gateway(
        FIXTURE_TEMPLATE,
        logs_dir / "fixture.stderr",
        "--integration-timeout",
        str(INTEGRATION_TIMEOUT),
        "--parameter-overrides",
        f"EventLogDir={event_dir}",
        extra_env=LEAK_CANARY,
    ) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def composed_gateway(event_dir: Path, logs_dir: Path) -> Iterator[LocalGateway]:
    """`${request.body.service}/${request.body.action}`, no `$default`, no authorizer."""
    with running_gateway(
        COMPOSED_TEMPLATE,
        logs_dir / "composed.stderr",
        "--parameter-overrides",
        f"EventLogDir={event_dir}",
    ) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def chat_gateway(logs_dir: Path) -> Iterator[LocalGateway]:
    """The real app: template.yaml and its chat handlers."""
    with running_gateway(
        APP_TEMPLATE, logs_dir / "chat.stderr", "--integration-timeout", str(INTEGRATION_TIMEOUT)
    ) as gateway:
        yield gateway
