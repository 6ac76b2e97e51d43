"""A stack `sam deploy` created in the rehearsal's AWS, read back through the AWS APIs.

`deploy` runs the real SAM CLI (scripts/sam) with the committed samconfig.toml, pointed at
moto's server by AWS_ENDPOINT_URL. `DeployedStack` holds what CloudFormation reports: the
processed template (after the SAM transform), the physical id of each resource, the
parameters and the outputs; `resolve` evaluates that template's intrinsic functions with
those ids, which is what the created resources must then agree with.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tests.deploy.lambda_packages import ROOT, SAM
from tests.deploy.lambda_sandbox import REGION

STACK_NAME = "switchboard"  # samconfig.toml's
SAMCONFIG = ROOT / "samconfig.toml"
_SUB = re.compile(r"\$\{([^}!]+)\}")
_NO_VALUE = object()


def samconfig_parameters() -> dict[str, str]:
    """The parameter_overrides of samconfig.toml's deploy defaults, as a dict."""
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    overrides = config["default"]["deploy"]["parameters"].get("parameter_overrides", "")
    pairs = [item.split("=", 1) for item in shlex.split(overrides)]
    return {name: value for name, value in pairs}


def sam(endpoint: str, *arguments: str | Path) -> subprocess.CompletedProcess[str]:
    """The SAM CLI against the rehearsal's AWS: fake credentials, no ~/.aws, no telemetry."""
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "SAM_CLI_TELEMETRY": "0",
        # How often SAM polls CloudFormation (default 5 s); moto answers at once.
        "SAM_CLI_POLL_DELAY": "0.2",
    }
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        environment.pop(name, None)
    return subprocess.run(
        [str(SAM), *[str(argument) for argument in arguments]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=environment,
    )


@dataclass(frozen=True)
class DeployedStack:
    processed: dict[str, Any]
    physical_ids: dict[str, str]
    parameters: dict[str, str]
    outputs: dict[str, str]
    account: str
    #: Logical id -> ARN, for `Fn::GetAtt X.Arn` (asked of each service, not assembled).
    arns: Mapping[str, str]

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.processed["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    @cached_property
    def conditions(self) -> dict[str, bool]:
        return {
            name: bool(self.resolve(condition))
            for name, condition in (self.processed.get("Conditions") or {}).items()
        }

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function evaluated as CloudFormation would."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = self._functions().get(key)
            if function is not None:
                return function(argument)
        members = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in members.items() if item is not _NO_VALUE}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": lambda arg: self._getatt(
                *(arg if isinstance(arg, list) else arg.split(".", 1))
            ),
            "Fn::Sub": self._sub,
            "Fn::If": lambda arg: self._resolve(arg[1] if self.conditions[arg[0]] else arg[2]),
            "Fn::Equals": lambda arg: self._resolve(arg[0]) == self._resolve(arg[1]),
            "Fn::Not": lambda arg: not self._resolve(arg[0]),
            "Fn::And": lambda arg: all(self._resolve(item) for item in arg),
            "Fn::Or": lambda arg: any(self._resolve(item) for item in arg),
            "Fn::Join": lambda arg: str(arg[0]).join(str(v) for v in self._resolve(arg[1])),
            "Condition": lambda arg: self.conditions[arg],
        }

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": STACK_NAME,
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical_ids[name]

    def _getatt(self, name: str, attribute: str) -> str:
        assert attribute == "Arn", f"Fn::GetAtt {name}.{attribute} is not modelled here"
        return self.arns[name]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self._resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                return self._getatt(*name.split(".", 1))
            return str(self._ref(name))

        return _SUB.sub(replace, text)
