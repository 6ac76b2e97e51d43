"""What `switchboard local` exposes whatever --host says, and the credentials functions get."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from switchboard.local import app
from switchboard.local.app import LocalSettings, LocalStack, function_environment
from switchboard.local.dynamodb import LOCAL_CREDENTIALS
from switchboard.local.gateway import GatewayOptions
from switchboard.local.template_model import read_template
from tests.support.template import TEMPLATE


class _Stop(Exception):
    pass


def test_the_embedded_aws_services_listen_on_loopback_whatever_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # moto holds the table and the token secret: on a LAN address anyone there could mint
    # tokens. Nothing is started: the stand-in records where it was asked to listen.
    asked: list[str] = []

    class RecordingDynamoDB:
        def __init__(self, host: str, *_: Any) -> None:
            asked.append(host)

        async def start(self) -> str:
            raise _Stop

    async def no_spawner() -> None:
        return None

    monkeypatch.setattr(app, "EmbeddedDynamoDB", RecordingDynamoDB)
    stack = LocalStack(LocalSettings(gateway=GatewayOptions(host="192.0.2.2")))
    monkeypatch.setattr(stack.spawner, "start", no_spawner)
    with pytest.raises(_Stop):
        asyncio.run(stack.start())
    assert asked == ["127.0.0.1"]


def environment(parent: dict[str, str], *, embedded: bool) -> dict[str, str]:
    function = next(iter(read_template(TEMPLATE).functions.values()))
    return function_environment(
        function,
        dynamodb_endpoint="http://127.0.0.1:8000",
        management_endpoint="http://127.0.0.1:3001/prod",
        aws_endpoint="http://127.0.0.1:5000",
        embedded=embedded,
        parent=parent,
    )


def test_another_local_dynamodb_without_credentials_gets_the_local_ones(tmp_path: Path) -> None:
    # DynamoDB Local takes any credentials, but boto3 will not sign without some.
    env = environment({"HOME": str(tmp_path)}, embedded=False)
    assert {k: env[k] for k in LOCAL_CREDENTIALS} == LOCAL_CREDENTIALS


@pytest.mark.parametrize("configured", ["variables", "shared_file"])
def test_credentials_of_the_users_own_are_passed_on(tmp_path: Path, configured: str) -> None:
    parent = {"HOME": str(tmp_path)}
    if configured == "variables":
        parent |= {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cret"}
    else:
        (tmp_path / ".aws").mkdir()
        (tmp_path / ".aws" / "credentials").write_text("[default]\n")
    env = environment(parent, embedded=False)
    assert env.get("AWS_ACCESS_KEY_ID") == parent.get("AWS_ACCESS_KEY_ID")
    if configured == "shared_file":
        assert "AWS_ACCESS_KEY_ID" not in env  # boto3 reads the file under HOME itself


@pytest.mark.parametrize(
    ("host", "warned"),
    [
        ("127.0.0.1", False),
        ("::1", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("192.0.2.2", True),
        ("gateway.example", True),
    ],
)
def test_the_banner_warns_when_the_gateway_listens_beyond_this_machine(
    host: str, warned: bool
) -> None:
    warning = app.exposure_warning(host)
    assert bool(warning) == warned
    if warned:
        assert f"listening on {host}" in warning and "@connections" in warning
