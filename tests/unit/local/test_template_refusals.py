"""A template the local gateway cannot serve, or parameters `sam deploy` would refuse: a
TemplateError naming what is wrong (the CLI prints it in one line), never another exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.local.template_intrinsics import TemplateError
from switchboard.local.template_model import read_template
from tests.support.template import TEMPLATE


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Resources: [unclosed", "is not valid YAML (line 1"),
        ("", "it has no Resources"),
        ("- a\n- b\n", "it has no Resources"),
        ("Resources: !Ref X\n", "must be a mapping"),
        ("Resources: {}\n", "Resources must be a mapping"),
        ("Resources:\n  A: 5\n", "resource A must be a mapping with a Type"),
        ("Resources:\n  A: {Properties: {}}\n", "resource A must be a mapping with a Type"),
        ("Parameters: [1]\nResources:\n  A: {Type: X}\n", "Parameters must be a mapping"),
        ("Parameters:\n  P: 5\nResources:\n  A: {Type: X}\n", "parameter P must be a mapping"),
    ],
)
def test_a_file_that_is_not_a_template_is_refused_by_name(
    tmp_path: Path, text: str, says: str
) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    with pytest.raises(TemplateError) as caught:
        read_template(path)
    assert says in str(caught.value)


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(TemplateError, match=r"not UTF-8 text|not valid YAML"):
        read_template(path)


@pytest.mark.parametrize(
    ("parameters", "stage", "says"),
    [
        ({}, "a/b", "StageName='a/b' does not match its AllowedPattern"),
        ({}, "x y", "does not match its AllowedPattern"),
        ({}, "", "does not match its AllowedPattern"),
        ({}, "@connections", "does not match its AllowedPattern"),
        ({"LogLevel": "LOUD"}, None, "LogLevel='LOUD' is not one of: DEBUG, INFO"),
        ({"HistoryRetentionDays": "-4"}, None, "below its MinValue 0"),
        ({"HistoryRetentionDays": "3651"}, None, "above its MaxValue 3650"),
        ({"HistoryRetentionDays": "week"}, None, "'week' is not a number"),
        ({"AllowAnonymous": "yes"}, None, "is not one of: true, false"),
        ({"TokenIssuer": " "}, None, "must not be empty"),
        ({"JwksUrl": "http://issuer.example/jwks"}, None, "https:// URL"),
    ],
)
def test_parameters_sam_deploy_would_refuse_are_refused(
    parameters: dict[str, str], stage: str | None, says: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        read_template(TEMPLATE, parameters=parameters, stage=stage)
    assert says in str(caught.value)


def test_the_defaults_and_good_values_pass() -> None:
    model = read_template(
        TEMPLATE,
        parameters={"LogLevel": "DEBUG", "HistoryRetentionDays": "0", "LogRetentionDays": "7"},
        stage="dev_2",
    )
    assert model.stage == "dev_2"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("    MemorySize: 64", "MemorySize must be a whole number from 128 to 10240, not 64"),
        ("    MemorySize: 10241", "not 10241"),
        ("    MemorySize: 12.5", "not 12.5"),
        ("    MemorySize: lots", "not 'lots'"),
        ("    MemorySize: true", "not True"),
        ("    Timeout: 0", "Timeout must be a whole number from 1 to 900, not 0"),
        ("    Timeout: 901", "not 901"),
        ("    Timeout: -3", "not -3"),
        ('    Timeout: "²"', "not '²'"),
        # Full-width digits (written as escapes): str.isdigit() takes them, Lambda does not.
        ('    MemorySize: "\uff12\uff15\uff16"', "not '\uff12\uff15\uff16'"),
    ],
)
def test_a_function_lambda_would_refuse_is_refused(tmp_path: Path, line: str, says: str) -> None:
    # MemorySize decides a function's cores and Timeout its time limit: a value Lambda
    # refuses must not become one core, or no limit, without a word.
    with pytest.raises(TemplateError) as caught:
        read_template(_with_globals_line(tmp_path, line))
    assert says in str(caught.value)


def _with_globals_line(tmp_path: Path, line: str) -> Path:
    name = line.split(":")[0]
    text = TEMPLATE.read_text()
    original = next(x for x in text.splitlines() if x.startswith(f"{name}:"))
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(original + "\n", line + "\n", 1))
    return path


@pytest.mark.parametrize(
    ("line", "memory_mb", "timeout"),
    [
        # A Number parameter's value arrives as a string: CloudFormation takes it.
        ('    MemorySize: "1024"', 1024, 29),
        ("    MemorySize: !Ref AWS::NoValue", 128, 29),  # dropped: Lambda's default
        ("    Timeout: !Ref AWS::NoValue", 256, 3),
        ("    Timeout: 900", 256, 900),
    ],
)
def test_what_lambda_accepts_is_served(
    tmp_path: Path, line: str, memory_mb: int, timeout: int
) -> None:
    model = read_template(_with_globals_line(tmp_path, line))
    chat = model.function("ChatFunction")
    assert (chat.memory_mb, chat.timeout) == (memory_mb, timeout)
