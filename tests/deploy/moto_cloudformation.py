"""What CloudFormation does for this stack that moto's CloudFormation leaves out.

The rehearsal deploys with the real `sam deploy` against moto's server. moto creates the
stack's resources through each service's real backend, but its CloudFormation skips a few
steps AWS performs; each function below adds one back, the way CloudFormation documents
it, and nothing else is changed:

- the `AWS::Serverless-2016-10-31` transform (CloudFormation runs aws-sam-translator on its
  side; here sam_transform.py runs it with the SAM CLI's own copy of the library);
- outputs of a stack created through a change set (moto keeps those of the empty stack);
- a TemplateURL on the server's own address (moto reads path-style URLs only on localhost);
- `AWS::SecretsManager::Secret` with `GenerateSecretString` (moto has no such resource);
- a table's TimeToLiveSpecification, PointInTimeRecoverySpecification and the
  SSESpecification's CloudFormation spelling (`SSEEnabled`; the API says `Enabled`);
- `!Ref AWS::NoValue` in a list (moto leaves None there) for a function's Layers and a
  role's Policies;
- a function's Architectures and Layers, and environment values as strings, a layer's
  CompatibleArchitectures, a role's ManagedPolicyArns (detached again before the role is
  deleted) and its inline policies as JSON;
- `AWS::ApiGatewayV2::Api`, so that references to the API resolve to a real API id.

The other `AWS::ApiGatewayV2::*` resources (routes, integrations, authorizer, deployment,
stage) are still not created: test_rehearsal.py checks them in the translated template.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from moto.apigatewayv2.models import apigatewayv2_backends
from moto.awslambda import models as lambda_models
from moto.cloudformation import models as cloudformation_models
from moto.cloudformation import parsing, responses
from moto.cloudformation import utils as cloudformation_utils
from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.iam.models import Role, iam_backends
from moto.secretsmanager.models import secretsmanager_backends

SERVERLESS_TRANSFORM = "AWS::Serverless-2016-10-31"
SAM_TRANSFORM_SCRIPT = Path(__file__).with_name("sam_transform.py")


def apply(sam_python: Path) -> None:
    """Install every fix below; call once, before the server takes requests."""
    _serverless_transform(sam_python)
    _outputs_after_change_set()
    _template_url_on_loopback()
    _table_properties()
    _function_properties()
    _layer_properties()
    _role_policies()
    # New resource types: moto finds CloudFormationModel subclasses once, then caches them.
    parsing.get_model_map.cache_clear()
    for model in (GeneratedSecret, WebSocketOrHttpApi):
        assert parsing.get_model_map()[model.cloudformation_type()] is model


# ----------------------------------------------------------------- the SAM transform


def _serverless_transform(sam_python: Path) -> None:
    backend = cloudformation_models.CloudFormationBackend
    create_stack = backend.create_stack
    create_change_set = backend.create_change_set

    def translate(template: str, parameters: dict[str, Any], region: str) -> str:
        document = cloudformation_models.Stack.parse_template(template)
        transforms = document.get("Transform") or []
        if SERVERLESS_TRANSFORM not in (
            [transforms] if isinstance(transforms, str) else transforms
        ):
            return template
        request = {"template": document, "parameters": parameters, "region": region}
        result = subprocess.run(
            [str(sam_python), str(SAM_TRANSFORM_SCRIPT)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            # CloudFormation fails the change set with the transform's message.
            raise ValidationError(message=f"Transform failed: {result.stderr[-2000:]}")
        return result.stdout

    def patched_create_stack(
        self: Any, name: str, template: str, parameters: dict[str, Any], *args: Any, **kw: Any
    ) -> Any:
        translated = translate(template, parameters, self.region_name)
        return create_stack(self, name, translated, parameters, *args, **kw)

    def patched_create_change_set(
        self: Any,
        stack_name: str,
        change_set_name: str,
        template: str,
        parameters: dict[str, Any],
        *args: Any,
        **kw: Any,
    ) -> Any:
        translated = translate(template, parameters, self.region_name)
        return create_change_set(
            self, stack_name, change_set_name, translated, parameters, *args, **kw
        )

    backend.create_stack = patched_create_stack  # type: ignore[method-assign]
    backend.create_change_set = patched_create_change_set  # type: ignore[method-assign]


def _outputs_after_change_set() -> None:
    backend = cloudformation_models.CloudFormationBackend
    execute_change_set = backend.execute_change_set

    def patched(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        execute_change_set(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            if stack.name == stack_name or stack.stack_id == stack_name:
                stack._parse_template()
                stack.output_map = stack._create_output_map()

    backend.execute_change_set = patched  # type: ignore[method-assign]


def _template_url_on_loopback() -> None:
    read = cloudformation_utils.get_stack_from_s3_url

    def patched(template_url: str, account_id: str, partition: str) -> str:
        parts = urlsplit(template_url)
        if parts.hostname == "127.0.0.1":
            netloc = parts.netloc.replace("127.0.0.1", "localhost", 1)
            template_url = urlunsplit(parts._replace(netloc=netloc))
        return read(template_url, account_id=account_id, partition=partition)

    vars(responses)["get_stack_from_s3_url"] = patched  # the name responses.py calls


# ------------------------------------------------------------------------ resources


def _wrap_create(
    model: type[Any],
    before: Callable[[dict[str, Any]], dict[str, Any]] | None,
    after: Callable[[Any, dict[str, Any], str, str], None] | None,
) -> None:
    """Wrap a model's create_from_cloudformation_json: adjust the properties, finish after."""
    original = model.create_from_cloudformation_json.__func__

    def create(
        cls: Any,
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json.get("Properties") or {}
        adjusted = {
            **cloudformation_json,
            "Properties": before(properties) if before else properties,
        }
        resource = original(cls, resource_name, adjusted, account_id, region_name, **kwargs)
        if after:
            after(resource, properties, account_id, region_name)
        return resource

    model.create_from_cloudformation_json = classmethod(create)


def _table_properties() -> None:
    def before(properties: dict[str, Any]) -> dict[str, Any]:
        sse = properties.get("SSESpecification")
        if not sse:
            return properties
        api_sse = {"Enabled": bool(sse.get("SSEEnabled"))}
        api_sse.update({k: sse[k] for k in ("SSEType", "KMSMasterKeyId") if k in sse})
        return {**properties, "SSESpecification": api_sse}

    def after(table: Any, properties: dict[str, Any], account_id: str, region: str) -> None:
        backend = dynamodb_backends[account_id][region]
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            backend.update_time_to_live(table.name, ttl)
        recovery = properties.get("PointInTimeRecoverySpecification")
        if recovery:
            backend.update_continuous_backups(
                table.name,
                {"PointInTimeRecoveryEnabled": bool(recovery["PointInTimeRecoveryEnabled"])},
            )

    _wrap_create(Table, before, after)


def _function_properties() -> None:
    def before(properties: dict[str, Any]) -> dict[str, Any]:
        # CloudFormation passes every value as a string (a Number parameter included).
        environment = properties.get("Environment")
        if not environment:
            return properties
        variables = {k: _string(v) for k, v in (environment.get("Variables") or {}).items()}
        return {**properties, "Environment": {**environment, "Variables": variables}}

    def after(function: Any, properties: dict[str, Any], account_id: str, region: str) -> None:
        if "Architectures" in properties:
            function.architectures = list(properties["Architectures"])
        # An `!If [..., !Ref AWS::NoValue]` leaves None in the list, where AWS drops it.
        layers = [layer for layer in properties.get("Layers") or [] if layer is not None]
        if layers:
            function.update_configuration({"Layers": layers})

    _wrap_create(lambda_models.LambdaFunction, before, after)


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _layer_properties() -> None:
    # Ref of a layer version is its ARN; moto's has no physical id, so Ref gave the object.
    lambda_models.LayerVersion.physical_resource_id = property(  # type: ignore[attr-defined]
        lambda self: self.arn
    )

    def after(layer: Any, properties: dict[str, Any], account_id: str, region: str) -> None:
        layer.compatible_architectures = list(properties.get("CompatibleArchitectures") or [])

    _wrap_create(lambda_models.LayerVersion, None, after)


def _role_policies() -> None:
    def before(properties: dict[str, Any]) -> dict[str, Any]:
        # IAM takes policy documents as JSON text; moto would store the dict's Python repr.
        policies = [
            {**policy, "PolicyDocument": json.dumps(policy["PolicyDocument"])}
            for policy in properties.get("Policies") or []
            if policy is not None  # what `!Ref AWS::NoValue` leaves in moto's lists
        ]
        return {**properties, "Policies": policies}

    def after(role: Any, properties: dict[str, Any], account_id: str, region: str) -> None:
        backend = iam_backends[account_id]["aws"]
        for arn in properties.get("ManagedPolicyArns") or []:
            backend.attach_role_policy(arn, role.name)

    _wrap_create(Role, before, after)

    # CloudFormation detaches a role's managed policies before deleting it; IAM insists.
    delete = Role.delete_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def detach_then_delete(
        cls: Any,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = iam_backends[account_id]["aws"]
        for arn in list(backend.get_role(resource_name).managed_policies):
            backend.detach_role_policy(arn, resource_name)
        delete(cls, resource_name, cloudformation_json, account_id, region_name)

    Role.delete_from_cloudformation_json = classmethod(detach_then_delete)  # type: ignore[method-assign, assignment]


class GeneratedSecret(CloudFormationModel):
    """AWS::SecretsManager::Secret: its SecretString, or one made as GenerateSecretString says."""

    def __init__(self, arn: str, name: str) -> None:
        self.arn = arn
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        # Ref of a secret is its ARN.
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> GeneratedSecret:
        properties = cloudformation_json.get("Properties") or {}
        backend = secretsmanager_backends[account_id][region_name]
        secret_string = properties.get("SecretString")
        if secret_string is None:
            generate = properties.get("GenerateSecretString") or {}
            password = json.loads(
                backend.get_random_password(
                    password_length=int(generate.get("PasswordLength", 32)),
                    exclude_characters=generate.get("ExcludeCharacters", ""),
                    exclude_numbers=bool(generate.get("ExcludeNumbers", False)),
                    exclude_punctuation=bool(generate.get("ExcludePunctuation", False)),
                    exclude_uppercase=bool(generate.get("ExcludeUppercase", False)),
                    exclude_lowercase=bool(generate.get("ExcludeLowercase", False)),
                    include_space=bool(generate.get("IncludeSpace", False)),
                    require_each_included_type=bool(generate.get("RequireEachIncludedType", True)),
                )
            )["RandomPassword"]
            secret_string = password
            if "SecretStringTemplate" in generate:
                document = json.loads(generate["SecretStringTemplate"])
                document[generate["GenerateStringKey"]] = password
                secret_string = json.dumps(document)
        name = properties.get("Name", resource_name)
        created = json.loads(
            backend.create_secret(
                name=name,
                secret_string=secret_string,
                secret_binary=None,
                description=properties.get("Description"),
                tags=properties.get("Tags"),
                kms_key_id=properties.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
        )
        return cls(created["ARN"], name)

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        backend = secretsmanager_backends[account_id][region_name]
        backend.delete_secret(
            resource_name, recovery_window_in_days=None, force_delete_without_recovery=True
        )

    def delete(self, account_id: str, region_name: str) -> None:
        backend = secretsmanager_backends[account_id][region_name]
        backend.delete_secret(
            self.arn, recovery_window_in_days=None, force_delete_without_recovery=True
        )


class WebSocketOrHttpApi(CloudFormationModel):
    """AWS::ApiGatewayV2::Api: the API itself, so `Ref` and `${Api}` give a real API id.

    An HTTP API's OpenAPI `Body` is not imported: its routes are checked in the translated
    template, like every other ApiGatewayV2 resource.
    """

    def __init__(self, api_id: str, endpoint: str) -> None:
        self.api_id = api_id
        self.endpoint = endpoint

    @property
    def physical_resource_id(self) -> str:
        return self.api_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Api"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("ApiId", "ApiEndpoint")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return {"ApiId": self.api_id, "ApiEndpoint": self.endpoint}[attribute_name]

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> WebSocketOrHttpApi:
        properties = cloudformation_json.get("Properties") or {}
        body = properties.get("Body") or {}
        # The API's own parameters, as CloudFormation passes them (absent ones as None).
        settings: dict[str, Any] = {
            "api_key_selection_expression": properties.get("ApiKeySelectionExpression"),
            "cors_configuration": properties.get("CorsConfiguration"),
            "description": properties.get("Description"),
            "disable_schema_validation": properties.get("DisableSchemaValidation"),
            "disable_execute_api_endpoint": properties.get("DisableExecuteApiEndpoint"),
            "name": properties.get("Name")
            or (body.get("info") or {}).get("title")
            or resource_name,
            "protocol_type": properties.get("ProtocolType") or "HTTP",
            "route_selection_expression": properties.get("RouteSelectionExpression"),
            "tags": properties.get("Tags") or {},
            "version": properties.get("Version"),
        }
        api = apigatewayv2_backends[account_id][region_name].create_api(**settings)
        return cls(api.api_id, api.api_endpoint)

    @classmethod
    def delete_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        """Deleted through `delete` below, which knows the id."""

    def delete(self, account_id: str, region_name: str) -> None:
        apigatewayv2_backends[account_id][region_name].delete_api(self.api_id)
