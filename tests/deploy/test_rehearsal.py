"""A deploy rehearsal: the real `sam deploy`, with samconfig.toml, from the built packages.

AWS cannot be reached from here, so CloudFormation is moto's server, extended with what
CloudFormation does for this stack and moto does not (moto_cloudformation.py), the SAM
transform first of all. `sam deploy` uploads the packages to S3, creates and executes a
change set and prints the outputs as it would against AWS; then the tests read back, through
the AWS APIs, what was created and compare it with the template CloudFormation processed.

moto creates no API Gateway routes, integrations, authorizer, deployment or stage: those
are checked in the processed template instead. IAM policies are compared, not enforced.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from tests.deploy.conftest import AwsServer
from tests.deploy.deployed_stack import (
    SAMCONFIG,
    STACK_NAME,
    DeployedStack,
    sam,
    samconfig_parameters,
)
from tests.deploy.lambda_packages import BuiltStack
from tests.support.template import template

SAM_TEMPLATE = template()
SAM_FUNCTIONS = sorted(
    logical_id
    for logical_id, resource in SAM_TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
)
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.fixture(scope="module")
def deploy_output(aws: AwsServer, build: BuiltStack) -> str:
    result = sam(
        aws.endpoint,
        "deploy",
        "--config-file",
        SAMCONFIG,
        "--template-file",
        build.template_path,
        "--no-confirm-changeset",
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return result.stdout


@pytest.fixture(scope="module")
def deployed(aws: AwsServer, deploy_output: str) -> DeployedStack:
    cloudformation = aws.client("cloudformation")
    (stack,) = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    body = cloudformation.get_template(StackName=STACK_NAME, TemplateStage="Processed")
    processed = body["TemplateBody"]
    processed = (
        json.loads(processed) if isinstance(processed, str) else json.loads(json.dumps(processed))
    )
    physical_ids = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=STACK_NAME):
        for summary in page["StackResourceSummaries"]:
            if summary.get("PhysicalResourceId"):
                physical_ids[summary["LogicalResourceId"]] = summary["PhysicalResourceId"]
    arns = {}
    for logical_id, resource in processed["Resources"].items():
        physical = physical_ids.get(logical_id)
        if physical is None:
            continue
        if resource["Type"] == "AWS::DynamoDB::Table":
            arns[logical_id] = aws.client("dynamodb").describe_table(TableName=physical)["Table"][
                "TableArn"
            ]
        elif resource["Type"] == "AWS::Lambda::Function":
            arns[logical_id] = aws.client("lambda").get_function_configuration(
                FunctionName=physical
            )["FunctionArn"]
        elif resource["Type"] == "AWS::IAM::Role":
            arns[logical_id] = aws.client("iam").get_role(RoleName=physical)["Role"]["Arn"]
    return DeployedStack(
        processed=processed,
        physical_ids=physical_ids,
        parameters={p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])},
        outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
        account=aws.client("sts").get_caller_identity()["Account"],
        arns=arns,
    )


def lambda_id(deployed: DeployedStack, sam_function: str) -> str:
    """The AWS::Lambda::Function SAM made of a function keeps its logical id."""
    assert deployed.resources[sam_function]["Type"] == "AWS::Lambda::Function"
    return sam_function


# --------------------------------------------------------------------- the deploy


def test_sam_deploy_succeeds_and_prints_the_outputs(deploy_output: str) -> None:
    assert f"Successfully created/updated stack - {STACK_NAME}" in deploy_output
    for output in SAM_TEMPLATE["Outputs"]:
        assert re.search(rf"Key\s+{output}\b", deploy_output), output


def test_every_resource_of_the_processed_template_was_created_or_is_api_gateway(
    deployed: DeployedStack,
) -> None:
    missing = {
        logical_id: resource["Type"]
        for logical_id, resource in deployed.resources.items()
        if logical_id not in deployed.physical_ids
        and "Condition" not in resource
        and resource["Type"] != "AWS::Lambda::Permission"
    }
    assert missing, "moto now creates every resource: check them as created"
    assert {t for t in missing.values()} <= {
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::RouteResponse",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::ApiGatewayV2::Stage",
    }, missing


def test_outputs_name_the_created_api_and_table(aws: AwsServer, deployed: DeployedStack) -> None:
    assert set(deployed.outputs) == set(SAM_TEMPLATE["Outputs"])
    for name, output in deployed.processed["Outputs"].items():
        assert deployed.outputs[name] == deployed.resolve(output["Value"])
    apis = {api["ApiId"]: api for api in aws.client("apigatewayv2").get_apis()["Items"]}
    websocket = apis[deployed.physical_ids["WebSocketApi"]]
    assert websocket["ProtocolType"] == "WEBSOCKET"
    stage = deployed.parameters["StageName"]
    assert deployed.outputs["WebSocketURL"] == (
        f"wss://{websocket['ApiId']}.execute-api.us-east-1.amazonaws.com/{stage}"
    )
    assert deployed.outputs["TableName"] == deployed.physical_ids["ConnectionsTable"]


def test_the_stack_has_samconfigs_parameters(deployed: DeployedStack) -> None:
    defaults = {
        name: str(spec.get("Default", "")) for name, spec in SAM_TEMPLATE["Parameters"].items()
    }
    assert deployed.parameters == {**defaults, **samconfig_parameters()}


# -------------------------------------------------------------------------- table


def test_table_is_created_as_the_template_says(aws: AwsServer, deployed: DeployedStack) -> None:
    dynamodb = aws.client("dynamodb")
    for logical_id, wanted in deployed.of_type("AWS::DynamoDB::Table").items():
        name = deployed.physical_ids[logical_id]
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == wanted["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(
            wanted["AttributeDefinitions"], key=str
        )
        assert not table.get("GlobalSecondaryIndexes") and "GlobalSecondaryIndexes" not in wanted
        assert not table.get("LocalSecondaryIndexes") and "LocalSecondaryIndexes" not in wanted
        assert table["BillingModeSummary"]["BillingMode"] == wanted["BillingMode"]
        assert wanted["BillingMode"] == "PAY_PER_REQUEST"
        assert wanted["SSESpecification"] == {"SSEEnabled": True}
        assert table["SSEDescription"]["Status"] == "ENABLED"
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": wanted["TimeToLiveSpecification"]["AttributeName"],
        }
        backups = dynamodb.describe_continuous_backups(TableName=name)
        recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert wanted["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


# ---------------------------------------------------------------------- functions


def sam_property(function_id: str, name: str) -> Any:
    globals_ = SAM_TEMPLATE["Globals"]["Function"]
    return SAM_TEMPLATE["Resources"][function_id]["Properties"].get(name, globals_.get(name))


@pytest.mark.parametrize("function_id", SAM_FUNCTIONS)
def test_function_is_created_as_the_template_says(
    aws: AwsServer, deployed: DeployedStack, function_id: str
) -> None:
    wanted = deployed.resources[lambda_id(deployed, function_id)]["Properties"]
    created = aws.client("lambda").get_function_configuration(
        FunctionName=deployed.physical_ids[function_id]
    )
    # The processed template says what the SAM template says, Globals merged ...
    for name in ("Runtime", "Handler", "MemorySize", "Timeout", "Architectures"):
        assert wanted[name] == sam_property(function_id, name), name
    # ... and the function is what the processed template says.
    assert created["Runtime"] == wanted["Runtime"] == "python3.13"
    assert created["Handler"] == wanted["Handler"]
    assert created["MemorySize"] == wanted["MemorySize"]
    assert created["Timeout"] == wanted["Timeout"]
    assert created["Architectures"] == wanted["Architectures"] == ["arm64"]
    assert created["Role"] == deployed.resolve(wanted["Role"])
    assert [layer["Arn"] for layer in created.get("Layers", [])] == deployed.resolve(
        wanted.get("Layers", [])
    )


@pytest.mark.parametrize("function_id", SAM_FUNCTIONS)
def test_function_environment_names_the_created_resources(
    aws: AwsServer, deployed: DeployedStack, function_id: str
) -> None:
    wanted = deployed.resources[function_id]["Properties"]["Environment"]["Variables"]
    created = aws.client("lambda").get_function_configuration(
        FunctionName=deployed.physical_ids[function_id]
    )["Environment"]["Variables"]
    sam_variables = {
        **SAM_TEMPLATE["Globals"]["Function"]["Environment"]["Variables"],
        **((sam_property(function_id, "Environment") or {}).get("Variables") or {}),
    }
    assert set(created) == set(wanted) == set(sam_variables)
    assert created == {name: str(deployed.resolve(value)) for name, value in wanted.items()}
    assert not [value for value in created.values() if "${" in value]
    assert created["TABLE_NAME"] == deployed.outputs["TableName"]
    assert created["MANAGEMENT_ENDPOINT"] + "/@connections" == deployed.outputs["ConnectionsURL"]
    if "TOKEN_SECRET_ID" in created:
        secret = deployed.physical_ids["TokenSecret"]
        assert created["TOKEN_SECRET_ID"] == secret
        assert aws.client("secretsmanager").describe_secret(SecretId=secret)["ARN"] == secret


def s3_zip(aws: AwsServer, location: dict[str, str]) -> zipfile.ZipFile:
    body = aws.client("s3").get_object(Bucket=location["S3Bucket"], Key=location["S3Key"])
    return zipfile.ZipFile(io.BytesIO(body["Body"].read()))


def files_of(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in directory.rglob("*")
        if path.is_file()
    }


@pytest.mark.parametrize("function_id", SAM_FUNCTIONS)
def test_deployed_code_is_the_built_package(
    aws: AwsServer, deployed: DeployedStack, build: BuiltStack, function_id: str
) -> None:
    archive = s3_zip(aws, deployed.resources[function_id]["Properties"]["Code"])
    uploaded = {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}
    assert uploaded == files_of(build.functions[function_id].code_dir)


def test_deployed_layers_are_the_built_layers(
    aws: AwsServer, deployed: DeployedStack, build: BuiltStack
) -> None:
    layers = {
        logical_id: properties
        for logical_id, properties in deployed.of_type("AWS::Lambda::LayerVersion").items()
        if logical_id in deployed.physical_ids  # those whose Condition holds
    }
    unconditional = {
        use.layer for f in build.functions.values() for use in f.layers if use.condition is None
    }
    assert sorted(p["LayerName"] for p in layers.values()) == sorted(unconditional)
    for properties in layers.values():
        archive = s3_zip(aws, properties["Content"])
        names = {name for name in archive.namelist() if not name.endswith("/")}
        assert names == set(files_of(build.layers[properties["LayerName"]]))


# -------------------------------------------------------------------------- roles


def statements(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(effect, action, resource) for every action and resource of a policy document."""
    found = []
    for statement in document["Statement"]:
        actions = statement["Action"]
        resources = statement.get("Resource", [])
        for action in actions if isinstance(actions, list) else [actions]:
            for resource in resources if isinstance(resources, list) else [resources]:
                found.append((statement["Effect"], action, resource))
    return sorted(found)


@pytest.mark.parametrize("function_id", SAM_FUNCTIONS)
def test_role_grants_exactly_the_templates_statements_on_the_created_resources(
    aws: AwsServer, deployed: DeployedStack, function_id: str
) -> None:
    iam = aws.client("iam")
    role_id = deployed.resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    role_name = deployed.physical_ids[role_id]
    wanted = deployed.resources[role_id]["Properties"]
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    assert [policy["PolicyArn"] for policy in attached] == wanted["ManagedPolicyArns"]
    assert wanted["ManagedPolicyArns"] == [BASIC_EXECUTION]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": ["lambda.amazonaws.com"]}]
    created = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        created += statements(json.loads(document) if isinstance(document, str) else document)
    resolved = []
    for policy in deployed.resolve(wanted.get("Policies", [])):
        resolved += statements(policy["PolicyDocument"])
    assert sorted(created) == sorted(resolved)
    # Least privilege, on the created role: named actions on named resources only.
    for effect, action, resource in created:
        assert effect == "Allow"
        assert "*" not in action and action != "dynamodb:Scan", action
        assert resource.startswith("arn:aws:"), resource
        if action == "execute-api:ManageConnections":
            api = deployed.physical_ids["WebSocketApi"]
            stage = deployed.parameters["StageName"]
            api_arn = f"arn:aws:execute-api:us-east-1:{deployed.account}:{api}"
            assert resource == f"{api_arn}/{stage}/POST/@connections/*"
        else:
            assert "*" not in resource, resource
            assert resource in {*deployed.arns.values(), *deployed.physical_ids.values()}


# ---------------------------------------------- API Gateway, in the processed template


def permission_for(deployed: DeployedStack, function_id: str, arn_suffix: str) -> bool:
    """Whether a Lambda::Permission lets API Gateway invoke the function for that ARN suffix."""
    for permission in deployed.of_type("AWS::Lambda::Permission").values():
        if permission["FunctionName"] != {"Ref": function_id}:
            continue
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["Principal"] == "apigateway.amazonaws.com"
        source = permission["SourceArn"]["Fn::Sub"]
        text = source if isinstance(source, str) else source[0]
        if text.endswith(arn_suffix):
            return True
    return False


def function_of_uri(uri: Any) -> str:
    match = re.search(r"\$\{([A-Za-z0-9]+)\.Arn\}/invocations$", uri["Fn::Sub"])
    assert match, uri
    return match.group(1)


def test_every_websocket_route_has_an_integration_a_permission_and_is_deployed(
    deployed: DeployedStack,
) -> None:
    routes = deployed.of_type("AWS::ApiGatewayV2::Route")
    integrations = deployed.of_type("AWS::ApiGatewayV2::Integration")
    responses = deployed.of_type("AWS::ApiGatewayV2::RouteResponse")
    assert routes
    for route_id, route in routes.items():
        target = re.fullmatch(r"integrations/\$\{(\w+)\}", route["Target"]["Fn::Sub"])
        assert target and target.group(1) in integrations, route_id
        integration = integrations[target.group(1)]
        assert integration["IntegrationType"] == "AWS_PROXY"
        function_id = function_of_uri(integration["IntegrationUri"])
        assert deployed.resources[function_id]["Type"] == "AWS::Lambda::Function"
        assert permission_for(deployed, function_id, f"/{route['RouteKey']}"), route_id
        if route.get("AuthorizationType") == "CUSTOM":
            authorizer_id = route["AuthorizerId"]["Ref"]
            authorizer = deployed.resources[authorizer_id]["Properties"]
            authorizer_function = function_of_uri(authorizer["AuthorizerUri"])
            assert permission_for(
                deployed, authorizer_function, f"/authorizers/${{{authorizer_id}}}"
            )
    assert not deployed.of_type("AWS::ApiGatewayV2::Deployment")
    stages = {
        stage_id: stage
        for stage_id, stage in deployed.of_type("AWS::ApiGatewayV2::Stage").items()
        if stage["ApiId"] == {"Ref": "WebSocketApi"}
    }
    ((stage_id, stage),) = stages.items()
    assert stage["StageName"] == {"Ref": "StageName"} and stage["AutoDeploy"] is True
    depends_on = set(deployed.resources[stage_id].get("DependsOn") or [])
    assert set(routes) | set(responses) <= depends_on


def test_every_http_route_has_an_integration_a_permission_and_is_deployed(
    deployed: DeployedStack,
) -> None:
    http_apis = {
        api_id: api
        for api_id, api in deployed.of_type("AWS::ApiGatewayV2::Api").items()
        if "Body" in api
    }
    if not http_apis:
        pytest.skip("the template has no HTTP API")
    for api_id, api in http_apis.items():
        paths = api["Body"]["paths"]
        assert paths, api_id
        for path, methods in paths.items():
            for method, operation in methods.items():
                integration = operation["x-amazon-apigateway-integration"]
                assert integration["type"] == "aws_proxy"
                assert integration["payloadFormatVersion"] == "2.0"
                function_id = function_of_uri(integration["uri"])
                arn_path = re.sub(r"\{[^}]+\}", "*", path)
                assert permission_for(deployed, function_id, f"/{method.upper()}{arn_path}"), (
                    method,
                    path,
                )
        stages = [
            stage
            for stage in deployed.of_type("AWS::ApiGatewayV2::Stage").values()
            if stage["ApiId"] == {"Ref": api_id}
        ]
        assert [(s["StageName"], s.get("AutoDeploy")) for s in stages] == [("$default", True)]


# ------------------------------------------------------------------------ clean up


def test_sam_delete_removes_the_stack_and_its_resources(
    aws: AwsServer, deployed: DeployedStack
) -> None:
    result = sam(aws.endpoint, "delete", "--config-file", SAMCONFIG, "--no-prompts")
    assert result.returncode == 0, result.stdout + result.stderr
    functions = aws.client("lambda").list_functions()["Functions"]
    assert not [f for f in functions if f["FunctionName"].startswith(f"{STACK_NAME}-")]
    tables = aws.client("dynamodb").list_tables()["TableNames"]
    assert deployed.physical_ids["ConnectionsTable"] not in tables
    roles = aws.client("iam").list_roles()["Roles"]
    assert not [r for r in roles if r["RoleName"].startswith(f"{STACK_NAME}-")]
    apis = aws.client("apigatewayv2").get_apis()["Items"]
    assert deployed.physical_ids["WebSocketApi"] not in {api["ApiId"] for api in apis}
    secrets = aws.client("secretsmanager").list_secrets()["SecretList"]
    assert deployed.physical_ids["TokenSecret"] not in {secret["ARN"] for secret in secrets}
    stacks = aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert {s["StackStatus"] for s in stacks if s["StackName"] == STACK_NAME} == {"DELETE_COMPLETE"}
