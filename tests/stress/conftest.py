"""Fixtures the stress tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.local_gateway import APP_TEMPLATE, LocalGateway, running_gateway

#: The body preview the hostile-input gateway's functions may log (LogPreviewChars).
HOSTILE_PREVIEW_CHARS = 16


@pytest.fixture(scope="session")
def hostile_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    """The real app for the hostile-input tests, shared by them (a start costs seconds).

    Guests are allowed, as `switchboard local` runs by default. The gateway logs at DEBUG and
    the functions may preview 16 characters of each body: the most either would ever write,
    which the log test then reads after every hostile frame, token and spoof of the session.
    """
    stderr = tmp_path_factory.mktemp("hostile-gateway") / "gateway.stderr"
    with running_gateway(
        APP_TEMPLATE,
        stderr,
        "--log-level",
        "DEBUG",
        "--parameter-overrides",
        f"LogPreviewChars={HOSTILE_PREVIEW_CHARS}",
    ) as gateway:
        yield gateway
