"""What a first deploy reads besides the template: samconfig.toml, scripts/deploy, the README.

Fast checks that they keep up with template.yaml: a parameter added to the template must be
given its default in samconfig.toml and a row in the README's parameter table.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from tests.deploy.deployed_stack import SAMCONFIG, STACK_NAME, samconfig_parameters
from tests.deploy.lambda_packages import ROOT
from tests.support.template import template

PARAMETERS: dict[str, dict[str, object]] = template()["Parameters"]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_samconfig_gives_every_parameter_its_template_default() -> None:
    defaults = {name: str(spec.get("Default", "")) for name, spec in PARAMETERS.items()}
    assert samconfig_parameters() == defaults


def test_samconfig_deploys_with_what_the_stack_needs_and_asks_first() -> None:
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))["default"]
    assert config["global"]["parameters"]["stack_name"] == STACK_NAME
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    # The account and the region are the user's: never committed.
    assert not {"region", "profile", "s3_bucket"} & set(deploy)


def test_readme_lists_every_parameter_with_its_default() -> None:
    section = README.split("\n## Deploy", 1)[1].split("\n## ", 1)[0]
    rows = {
        name: default
        for names, default in re.findall(r"^\| ((?:`\w+`(?:, )?)+) \| ([^|]*) \|", section, re.M)
        for name in re.findall(r"`(\w+)`", names)
    }
    listed = {name: rows.get(name) for name in PARAMETERS}
    assert None not in listed.values(), f"README's Deploy section lacks rows for {listed}"
    for name, spec in PARAMETERS.items():
        default = str(spec.get("Default", ""))
        assert rows[name].strip() in (f"`{default}`", "empty" if not default else ""), name


def test_deploy_script_builds_then_deploys() -> None:
    script = ROOT / "scripts" / "deploy"
    assert os.access(script, os.X_OK)
    text = script.read_text(encoding="utf-8")
    assert text.index("scripts/sam build") < text.index("scripts/sam deploy")


def makefile_targets(makefile: Path) -> set[str]:
    rules = re.findall(r"^([\w-]+(?: [\w-]+)*):(?!=)", makefile.read_text(), re.M)
    return {target for rule in rules for target in rule.split()}


def test_every_makefile_build_has_its_target_and_the_templates_architecture() -> None:
    """SAM runs `make build-<LogicalId>`; the layers' Makefiles cannot read the template's
    architecture, so their default must be it."""
    functions = template()["Globals"]["Function"]
    for logical_id, resource in template()["Resources"].items():
        if (resource.get("Metadata") or {}).get("BuildMethod") != "makefile":
            continue
        properties = resource["Properties"]
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            makefile = ROOT / str(properties["ContentUri"]) / "Makefile"
            (default,) = re.findall(r"^LAMBDA_ARCHITECTURE \?= (\S+)$", makefile.read_text(), re.M)
            assert [default] == properties["CompatibleArchitectures"], logical_id
            assert resource["Metadata"]["BuildArchitecture"] == default, logical_id
        else:
            makefile = ROOT / str(properties.get("CodeUri", functions["CodeUri"])) / "Makefile"
        assert f"build-{logical_id}" in makefile_targets(makefile), f"{makefile}: {logical_id}"
