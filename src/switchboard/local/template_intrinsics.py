"""CloudFormation's intrinsic functions, evaluated with local values for every reference.

`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::If` and the condition functions, over the
template's parameters (defaults or overrides), its conditions and pseudo parameters. A
table's `Ref` is its name, a function's `Arn` a local ARN; URLs of the WebSocket API point at
the local gateway and URLs of the HTTP API at the local HTTP API server (template_model.py
reads the resources with it).
"""

from __future__ import annotations

import re
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "switchboard-local"
LOCAL_API_ID = "local"
LOCAL_HTTP_API_ID = "localhttp"
#: The HTTP API that SAM creates for `HttpApi` events without an `ApiId`.
IMPLICIT_HTTP_API = "ServerlessHttpApi"
#: What `AWS::NoValue` resolves to: removed from the list or mapping that holds it.
NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(ValueError):
    """The template lacks something the local gateway needs, or uses what it cannot resolve."""


def _parameter_text(value: Any) -> str:
    """A parameter's value as CloudFormation passes it on: text (`true`, `7`, not Python's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_parameter(name: str, spec: dict[str, Any], value: str) -> None:
    """CloudFormation's checks of a parameter value, which `sam deploy` would refuse."""
    described = spec.get("ConstraintDescription")
    why = f" ({described})" if described else ""
    allowed = spec.get("AllowedValues")
    choices = [_parameter_text(v) for v in allowed] if isinstance(allowed, list) else None
    if choices is not None and value not in choices:
        listed = ", ".join(choices)
        raise TemplateError(f"template parameter {name}={value!r} is not one of: {listed}{why}")
    if spec.get("Type", "String") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"template parameter {name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(
                f"template parameter {name}={value} is below its MinValue {spec['MinValue']}{why}"
            )
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(
                f"template parameter {name}={value} is above its MaxValue {spec['MaxValue']}{why}"
            )
        return
    pattern = spec.get("AllowedPattern")
    # CloudFormation matches the whole value (a Java regex; these patterns read the same).
    if isinstance(pattern, str) and re.fullmatch(pattern, value) is None:
        raise TemplateError(
            f"template parameter {name}={value!r} does not match its AllowedPattern {pattern}{why}"
        )
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise TemplateError(f"template parameter {name} is shorter than {spec['MinLength']}{why}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise TemplateError(f"template parameter {name} is longer than {spec['MaxLength']}{why}")


def ref_target(value: Any) -> str | None:
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return str(value) if isinstance(value, str) else None


class Resolver:
    """Evaluates intrinsic functions with local values for every reference."""

    def __init__(
        self,
        document: dict[str, Any],
        overrides: dict[str, str],
        gateway_url: str,
        http_api_url: str = "http://127.0.0.1:3000",
    ) -> None:
        self._resources: dict[str, Any] = document.get("Resources") or {}
        self._conditions: dict[str, Any] = document.get("Conditions") or {}
        self._gateway_url = gateway_url.rstrip("/")
        self._http_api_url = http_api_url.rstrip("/")
        params: dict[str, Any] = document.get("Parameters") or {}
        unknown = set(overrides) - set(params)
        if unknown:
            raise TemplateError(f"unknown template parameter(s): {', '.join(sorted(unknown))}")
        self.parameter_values: dict[str, str] = {}
        for name, spec in params.items():
            if not isinstance(spec, dict):
                raise TemplateError(f"template parameter {name} must be a mapping")
            if name in overrides:
                self.parameter_values[name] = overrides[name]
            elif "Default" in spec:
                self.parameter_values[name] = _parameter_text(spec["Default"])
            else:
                raise TemplateError(
                    f"template parameter {name} has no Default: pass a value for it"
                )
            check_parameter(name, spec, self.parameter_values[name])
        self._pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local"
            ),
        }

    def refers_to(self, value: Any, logical_id: str) -> bool:
        return ref_target(value) == logical_id

    def condition(self, name: str) -> bool:
        return self._condition(name)

    def secret_name(self, logical_id: str) -> str:
        props = self._resources[logical_id].get("Properties") or {}
        name = props.get("Name")
        return str(self.resolve(name)) if name is not None else logical_id

    def table_name(self, logical_id: str) -> str:
        props = self._resources[logical_id].get("Properties") or {}
        name = props.get("TableName")
        return str(self.resolve(name)) if name is not None else logical_id

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(str(arg))
            if key == "Condition":
                return self._condition(str(arg))
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.parameter_values:
            return self.parameter_values[name]
        resource = self._resources.get(name)
        if resource is None:
            if name == IMPLICIT_HTTP_API:
                return LOCAL_HTTP_API_ID
            raise TemplateError(f"!Ref {name}: no such parameter or resource")
        kind = resource.get("Type", "")
        if kind == "AWS::DynamoDB::Table":
            return self.table_name(name)
        if kind == "AWS::ApiGatewayV2::Api":
            return LOCAL_API_ID
        if kind == "AWS::Serverless::HttpApi":
            return LOCAL_HTTP_API_ID
        if kind == "AWS::Logs::LogGroup":
            # CloudFormation answers the group's name.
            named = self.resolve((resource.get("Properties") or {}).get("LogGroupName"))
            return named if isinstance(named, str) else f"{STACK_NAME}-{name}"
        if kind == "AWS::SecretsManager::Secret":
            # CloudFormation answers the ARN; the name works wherever an id is asked for.
            return self.secret_name(name)
        return name

    def _get_att(self, name: str, attribute: str) -> Any:
        resource = self._resources.get(name)
        if resource is None and name == IMPLICIT_HTTP_API:
            resource = {"Type": "AWS::Serverless::HttpApi"}
        if resource is None:
            raise TemplateError(f"!GetAtt {name}.{attribute}: no such resource")
        kind = resource.get("Type", "")
        if attribute == "Arn":
            if kind == "AWS::DynamoDB::Table":
                return f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{self.table_name(name)}"
            if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            return f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{name}"
        if kind == "AWS::ApiGatewayV2::Api" and attribute == "ApiEndpoint":
            return self._gateway_url.replace("http", "ws", 1)
        if kind == "AWS::Serverless::HttpApi" and attribute == "ApiEndpoint":
            return self._http_api_url
        return f"{name}.{attribute}"

    def _function(self, name: str, arg: Any) -> Any:
        if name == "Sub":
            return self._sub(arg)
        if name == "GetAtt":
            target, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self._get_att(str(target), str(attribute))
        if name == "Join":
            separator, items = arg
            return str(separator).join(str(v) for v in self.resolve(items))
        if name == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Split":
            separator, text = arg
            return str(self.resolve(text)).split(str(separator))
        if name == "If":
            condition, when_true, when_false = arg
            return self.resolve(when_true if self._condition(condition) else when_false)
        if name == "Equals":
            left, right = (self.resolve(v) for v in arg)
            return str(left) == str(right)
        if name == "Not":
            return not self._truth(arg[0])
        if name == "And":
            return all(self._truth(v) for v in arg)
        if name == "Or":
            return any(self._truth(v) for v in arg)
        raise TemplateError(f"Fn::{name} is not supported by the local gateway")

    def _truth(self, value: Any) -> bool:
        return bool(self.resolve(value))

    def _condition(self, name: str) -> bool:
        if name not in self._conditions:
            raise TemplateError(f"unknown condition {name}")
        return self._truth(self._conditions[name])

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = str(arg[0]), {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = str(arg), {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                target, attribute = name.split(".", 1)
                return str(self._get_att(target, attribute))
            return str(self._ref(name))

        result = _SUB_VARIABLE.sub(replace, text).replace("${!", "${")
        # This API's own endpoints are the gateway when served locally, and the HTTP API's
        # are the local HTTP API server.
        api_host = f"{LOCAL_API_ID}.execute-api.{REGION}.amazonaws.com"
        http_api_host = f"{LOCAL_HTTP_API_ID}.execute-api.{REGION}.amazonaws.com"
        result = result.replace(f"https://{http_api_host}", self._http_api_url)
        result = result.replace(f"https://{api_host}", self._gateway_url)
        return result.replace(f"wss://{api_host}", self._gateway_url.replace("http", "ws", 1))
