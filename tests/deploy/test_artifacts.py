"""Every package `sam build` makes is complete on its own and carries nothing from development.

Each function's handler is imported from its build directory by the runtime's interpreter
(python3.13) in an isolated process whose sys.path holds only that directory, its layers
and the runtime's boto3 (see lambda_sandbox.py), then invoked with the `events/*.json` the
template routes to it, against moto's server: the responses must be the ones the unit tests
expect from the source tree, and every AWS call must be one its policy in the template grants.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from tests.deploy.conftest import AwsServer
from tests.deploy.lambda_packages import (
    TEMPLATE,
    BuiltStack,
    bytecode_problems,
    distributions,
    package_size,
)
from tests.deploy.lambda_sandbox import Invocation, Outcome, Sandbox
from tests.support.events import event_names, load_event
from tests.support.jwks import JwksServer, jwks_server, rsa_key
from tests.support.template import create_table, template
from tests.unit.test_events_through_template import EXPECTED, LIFE

from switchboard.local.template_model import TemplateModel, read_template

MODEL = read_template(TEMPLATE)
FUNCTIONS = sorted(MODEL.functions)
#: The functions of the WebSocket API: its routes' and its authorizers'.
WEBSOCKET_FUNCTIONS = sorted(
    {route.function for route in MODEL.routes.values()}
    | {authorizer.function for authorizer in MODEL.authorizers.values()}
)
#: Distributions a WebSocket function must not carry, in its package or its layers: web
#: frameworks, servers, emulators, test tools, and the SDK the runtime already provides.
NOT_FOR_WEBSOCKET_FUNCTIONS = {
    "fastapi", "starlette", "mangum", "pydantic", "pydantic-core", "uvicorn", "httpx",
    "moto", "websockets", "pyyaml", "pytest", "hypothesis", "schemathesis", "boto3", "botocore",
}  # fmt: skip
#: What the runtime's own directory may serve: boto3 and what it needs.
RUNTIME_MODULES = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
DEV_ONLY = ("switchboard/local", "switchboard/cli.py", "switchboard/__main__.py")
#: A REQUEST authorizer's event is the $connect event plus these (API Gateway's shape).
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/$connect"


def function_path(
    build: BuiltStack,
    host_build: BuiltStack,
    function_id: str,
    conditions: frozenset[str] = frozenset(),
) -> list[Path]:
    """sys.path of a function in Lambda's order: its package, then its layers' /opt/python.

    The package is the deployed (arm64) build's; the layers are this machine's build of the
    same requirements, since arm64 wheels cannot load here.
    """
    code_dir = build.functions[function_id].code_dir
    return [code_dir, *host_build.layer_python_dirs(function_id, conditions)]


# ------------------------------------------------------------------ what is packaged


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_package_holds_the_handler_and_no_development_code(
    build: BuiltStack, function_id: str, package_sizes: dict[str, Any]
) -> None:
    function = build.functions[function_id]
    files = sorted(p.relative_to(function.code_dir) for p in function.code_dir.rglob("*"))
    package_sizes[function_id] = package_size(function.code_dir)
    module = function.handler.rpartition(".")[0]
    assert Path(module.replace(".", "/") + ".py") in files
    assert all(path.parts[0] == "switchboard" for path in files), files
    for dev_only in DEV_ONLY:
        assert Path(dev_only) not in files, f"{function_id} ships {dev_only}"
    assert bytecode_problems(function.code_dir) == []
    assert not [p for p in files if p.name.endswith(".dist-info")], "pip installed into it"
    shipped_http_api = Path("switchboard/http_api") in files
    assert shipped_http_api == module.startswith("switchboard.http_api."), function_id


@pytest.mark.parametrize("function_id", WEBSOCKET_FUNCTIONS)
def test_websocket_functions_carry_no_framework_server_or_test_library(
    build: BuiltStack, function_id: str
) -> None:
    carried = set(distributions(build.functions[function_id].code_dir))
    for use in build.functions[function_id].layers:  # conditional ones too
        carried |= set(distributions(build.layers[use.layer] / "python"))
    assert not carried & NOT_FOR_WEBSOCKET_FUNCTIONS, f"{function_id} carries {carried}"


def test_layers_are_installed_compiled_and_measured(
    build: BuiltStack, package_sizes: dict[str, Any]
) -> None:
    assert build.layers, "the template has no layers"
    for layer_id, directory in build.layers.items():
        package_sizes[f"{layer_id} (layer)"] = package_size(directory)
        assert distributions(directory / "python"), f"{layer_id} installed nothing"
        assert bytecode_problems(directory) == [], layer_id


def test_cryptography_comes_only_with_the_layer_a_jwks_url_adds(build: BuiltStack) -> None:
    """HS256 needs no cryptography, and importing it costs a quarter of a cold start."""
    for function_id, function in build.functions.items():
        for use in function.layers:
            carries = "cryptography" in distributions(build.layers[use.layer] / "python")
            assert not carries or use.condition == "UseJwks", (function_id, use)


def test_this_machines_layers_hold_the_same_distributions(
    build: BuiltStack, host_build: BuiltStack
) -> None:
    assert set(host_build.layers) == set(build.layers)
    for layer_id, directory in build.layers.items():
        deployed = distributions(directory / "python")
        assert distributions(host_build.layers[layer_id] / "python") == deployed, layer_id


# ------------------------------------------------------------- imported on its own


def test_the_interpreter_sees_only_the_path_it_is_given(
    build: BuiltStack, sandbox: Sandbox
) -> None:
    """The control: development packages are installed here, yet cannot be imported there."""
    answer = sandbox.run([build.functions["ChatFunction"].code_dir], "yaml.safe_load").answer
    assert answer["importError"] == {
        "type": "ModuleNotFoundError",
        "message": "No module named 'yaml'",
    }
    assert not [entry for entry in answer["sysPath"] if "site-packages" in entry]
    answer = sandbox.run(
        [build.functions["ChatFunction"].code_dir], "switchboard.local.app.x"
    ).answer
    assert answer["importError"]["type"] == "ModuleNotFoundError"


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_handler_imports_from_its_package_alone(
    build: BuiltStack, host_build: BuiltStack, sandbox: Sandbox, function_id: str
) -> None:
    path = function_path(build, host_build, function_id)
    invocation = sandbox.run(path, build.functions[function_id].handler)
    assert "importError" not in invocation.answer, invocation.describe()
    modules = invocation.modules
    assert modules[str(path[0])] == ["switchboard"]
    assert set(modules[str(sandbox.runtime_dir)]) <= RUNTIME_MODULES


# ------------------------------------------------------------------------ invoked


@dataclass(frozen=True)
class Stage:
    """moto's server set up as `switchboard local` sets up its own: the template's table and
    secret, and each function's environment resolved against them."""

    model: TemplateModel
    sandbox: Sandbox
    build: BuiltStack
    host_build: BuiltStack
    secret: str

    def invoke(
        self,
        function_id: str,
        events: list[dict[str, Any]],
        model: TemplateModel | None = None,
        conditions: frozenset[str] = frozenset(),
    ) -> Invocation:
        """The events, in one fresh process of the function's package (one container)."""
        function = (model or self.model).functions[function_id]
        environment = self.sandbox.lambda_environment(
            function_id, function.environment, self.build.functions[function_id].code_dir
        )
        path = function_path(self.build, self.host_build, function_id, conditions)
        return self.sandbox.run(path, function.handler, events=events, environment=environment)


@pytest.fixture(scope="module")
def stage(aws: AwsServer, sandbox: Sandbox, build: BuiltStack, host_build: BuiltStack) -> Stage:
    model = read_template(TEMPLATE, gateway_url=aws.endpoint)
    dynamodb = aws.client("dynamodb")
    for table in model.tables.values():
        create_table(dynamodb, table.name)
    secret = secrets.token_urlsafe(48)
    for stored in model.secrets.values():
        aws.client("secretsmanager").create_secret(Name=stored.name, SecretString=secret)
    return Stage(model, sandbox, build, host_build, secret)


@dataclass(frozen=True)
class Invoked:
    function_id: str
    outcome: Outcome


@pytest.fixture(scope="module")
def connection_life(stage: Stage) -> dict[str, Invoked]:
    """The fixture events in the order one connection produces them, each to its function."""
    results = {}
    for name in LIFE:
        event = load_event(name)
        function_id = stage.model.routes[event["requestContext"]["routeKey"]].function
        # A fresh process for each: a cold start every time.
        results[name] = Invoked(function_id, stage.invoke(function_id, [event]).outcome)
    return results


@pytest.mark.parametrize("name", LIFE)
def test_fixture_events_through_the_packages_answer_as_the_source_does(
    connection_life: dict[str, Invoked], name: str
) -> None:
    EXPECTED[name](connection_life[name].outcome.response)


def authorizer_event(token: str | None) -> dict[str, Any]:
    event = load_event("connect")
    event.update(type="REQUEST", methodArn=METHOD_ARN)
    if token is not None:
        event["queryStringParameters"] = {"token": token}
        event["multiValueQueryStringParameters"] = {"token": [token]}
    return event


def claims(model: TemplateModel, function_id: str) -> dict[str, Any]:
    environment = model.functions[function_id].environment
    return {
        "sub": "u-42",
        "name": "Alice",
        "rooms": ["private:ops"],
        "iss": environment["TOKEN_ISSUER"],
        "aud": environment["TOKEN_AUDIENCE"],
        "exp": 4102444800,
    }


def assert_allowed(outcome: Outcome) -> None:
    policy = outcome.response
    assert policy["principalId"] == "u-42"
    assert policy["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
    ]
    assert policy["context"]["userId"] == "u-42"
    assert policy["context"]["name"] == "Alice"


@pytest.fixture(scope="module")
def authorizations(stage: Stage) -> dict[str, Invoked]:
    """The authorizer's package with the stack's HS256 secret, and with a provider's JWKS."""
    results = {}
    for authorizer in MODEL.authorizers.values():
        fid = authorizer.function
        token = jwt.encode(claims(stage.model, fid), stage.secret, algorithm="HS256")
        hs256 = stage.invoke(fid, [authorizer_event(token), authorizer_event(None)])
        allowed, refused = hs256.outcomes
        results[f"{fid} HS256"] = Invoked(fid, allowed)
        results[f"{fid} no token"] = Invoked(fid, refused)
        with jwks_server() as server:
            results[f"{fid} RS256"] = Invoked(fid, rs256(stage, server, fid))
    return results


def rs256(stage: Stage, server: JwksServer, function_id: str) -> Outcome:
    """PyJWT's RSA verification runs cryptography's compiled code: CryptoLayer's wheel."""
    key = rsa_key("deploy-test")
    server.serve(key)
    model = read_template(
        TEMPLATE, parameters={"JwksUrl": server.url}, gateway_url=stage.sandbox.aws_endpoint
    )
    token = key.sign(claims(model, function_id))
    invocation = stage.invoke(function_id, [authorizer_event(token)], model, frozenset({"UseJwks"}))
    return invocation.outcome


def test_the_authorizers_package_verifies_tokens(authorizations: dict[str, Invoked]) -> None:
    assert authorizations, "the template has no authorizer"
    for label, invoked in authorizations.items():
        if label.endswith("no token"):
            assert invoked.outcome.error == {"type": "Unauthorized", "message": "Unauthorized"}
        else:
            assert_allowed(invoked.outcome)


HTTP_EVENTS = [name for name in event_names() if load_event(name).get("version") == "2.0"]


def http_api_function(event: dict[str, Any]) -> str:
    """The function whose HttpApi event matches a payload-2.0 event's routeKey."""
    route_key = event["requestContext"]["routeKey"]
    for function_id, resource in template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for source in (resource["Properties"].get("Events") or {}).values():
            if source["Type"] != "HttpApi":
                continue
            props = source.get("Properties") or {}
            if "Path" not in props or route_key in (
                f"{props.get('Method', 'ANY').upper()} {props['Path']}",
                f"ANY {props['Path']}",
            ):
                return str(function_id)
    raise AssertionError(f"no HttpApi event of the template matches {route_key!r}")


@pytest.fixture(scope="module")
def http_requests(stage: Stage) -> dict[str, Invoked]:
    """Every payload-2.0 event, each function's in one process: FastAPI imports once."""
    by_function: dict[str, list[str]] = {}
    for name in HTTP_EVENTS:
        by_function.setdefault(http_api_function(load_event(name)), []).append(name)
    results = {}
    for function_id, names in by_function.items():
        outcomes = stage.invoke(function_id, [load_event(name) for name in names]).outcomes
        results.update({n: Invoked(function_id, o) for n, o in zip(names, outcomes, strict=True)})
    return results


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_http_events_through_the_package(http_requests: dict[str, Invoked], name: str) -> None:
    response = http_requests[name].outcome.response
    assert response["statusCode"] < 500, response


# ---------------------------------------------------------- calls against policies


def granted(function_id: str) -> set[tuple[str, str]]:
    """(action, logical id of the resource) for every statement of a function's policies."""
    pairs = set()
    for listed in template()["Resources"][function_id]["Properties"].get("Policies") or []:
        policy = listed["Fn::If"][1] if set(listed) == {"Fn::If"} else listed
        for statement in policy["Statement"]:
            resources = statement["Resource"]
            for resource in resources if isinstance(resources, list) else [resources]:
                for action in statement["Action"]:
                    pairs.add((action, resource_id(resource)))
    return pairs


def resource_id(resource: Any) -> str:
    """The resource a statement's Resource names: `!GetAtt X.Arn`, `!Ref X`, or the one
    resource of the template an `!Sub` ARN mentions (`${WebSocketApi}` in @connections ARNs)."""
    if "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    if "Ref" in resource:
        return str(resource["Ref"])
    mentioned = re.findall(r"\$\{(\w+)\}", str(resource["Fn::Sub"]))
    (named,) = [name for name in mentioned if name in template()["Resources"]]
    return str(named)


TRANSACT_ACTIONS = {
    "Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}  # fmt: skip


def needed(model: TemplateModel, call: dict[str, Any]) -> set[tuple[str, str]]:
    """(IAM action, logical id of the resource) one recorded AWS call needs."""
    tables = {table.name: logical_id for logical_id, table in model.tables.items()}
    secrets_by_name = {secret.name: logical_id for logical_id, secret in model.secrets.items()}
    operation = call["operation"]
    if call["signingName"] == "execute-api":
        return {("execute-api:ManageConnections", model.api_logical_id)}
    if call["service"] == "secretsmanager":
        return {(f"secretsmanager:{operation}", secrets_by_name[call["params"]["SecretId"]])}
    assert call["service"] == "dynamodb", call
    if operation == "TransactWriteItems":
        return {
            (f"dynamodb:{TRANSACT_ACTIONS[kind]}", tables[table])
            for item in call["transactItems"]
            for kind, table in item.items()
        }
    if operation.startswith("Batch"):
        return {(f"dynamodb:{operation}", tables[table]) for table in call["requestItems"]}
    return {(f"dynamodb:{operation}", tables[call["params"]["TableName"]])}


def test_every_aws_call_of_a_package_is_granted_by_its_policy(
    stage: Stage,
    connection_life: dict[str, Invoked],
    authorizations: dict[str, Invoked],
    http_requests: dict[str, Invoked],
) -> None:
    made = 0
    for label, invoked in {**connection_life, **authorizations, **http_requests}.items():
        for call in invoked.outcome.calls:
            missing = needed(stage.model, call) - granted(invoked.function_id)
            assert not missing, f"{label}: {invoked.function_id} may not {missing}"
            made += 1
    assert made >= len(LIFE), "the packages made fewer AWS calls than events: not recorded?"
