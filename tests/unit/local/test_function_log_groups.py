"""Where each local function says its logs go: its LoggingConfig's group, as in Lambda."""

from __future__ import annotations

import os
import time

import pytest

from switchboard.local.app import function_environment
from switchboard.local.template_intrinsics import STACK_NAME
from switchboard.local.template_model import read_template
from switchboard.local.worker import LambdaContext
from tests.support.template import TEMPLATE


def test_each_function_of_the_template_has_its_stack_log_group() -> None:
    model = read_template(TEMPLATE)
    assert model.functions
    for logical_id, function in model.functions.items():
        assert function.log_group == f"/switchboard/{STACK_NAME}/{logical_id}"
        env = function_environment(
            function,
            dynamodb_endpoint="http://127.0.0.1:1",
            management_endpoint="http://127.0.0.1:2",
            aws_endpoint="http://127.0.0.1:3",
            embedded=True,
            parent={},
        )
        assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == function.log_group


def test_the_context_names_the_log_group_lambda_gives_the_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ChatFunction")
    monkeypatch.setenv("AWS_LAMBDA_LOG_GROUP_NAME", "/switchboard/s/ChatFunction")
    assert LambdaContext("r", time.time() + 1).log_group_name == "/switchboard/s/ChatFunction"
    monkeypatch.delenv("AWS_LAMBDA_LOG_GROUP_NAME")
    assert LambdaContext("r", time.time() + 1).log_group_name == "/aws/lambda/ChatFunction"
    assert "AWS_LAMBDA_LOG_GROUP_NAME" not in os.environ
