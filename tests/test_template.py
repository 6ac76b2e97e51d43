"""template.yaml: the linters and `sam build` accept it, and it says what the issue asks.

The linters check CloudFormation's rules; the structural tests below check ours: every route
wired to a function it may invoke, route responses where replies go back, least privilege,
no Scan, and the outputs clients need. The template is read by the tests' one reader
(tests.support.template), short tags (`!Sub`, ...) in their long form.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route

from switchboard.http_api.app import create_app
from switchboard.http_api.settings import HttpSettings
from switchboard.protocol import ACTIONS
from tests.support.template import TEMPLATE as TEMPLATE_PATH
from tests.support.template import template

ROOT = TEMPLATE_PATH.parent
TEMPLATE = template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
# Fn::Sub references: ${Name} or ${Name.Attribute}; ${AWS::...} are pseudo parameters.
SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> Properties of every resource of that type."""
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in RESOURCES.items()
        if resource["Type"] == resource_type
    }


def references(value: Any) -> set[str]:
    """The logical ids (and parameters) a value refers to through Ref, GetAtt or Sub."""
    if isinstance(value, dict):
        found: set[str] = set()
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= set(SUB_REFERENCE.findall(text))
            else:
                found |= references(inner)
        return found
    if isinstance(value, list):
        return {name for item in value for name in references(item)}
    return set()


def sub_text(value: Any) -> str:
    """The string of an `!Sub "..."` (the form every ARN and URL here is written in)."""
    assert isinstance(value, dict), f"expected !Sub, got {value!r}"
    assert set(value) == {"Fn::Sub"}, f"expected !Sub, got {value!r}"
    text = value["Fn::Sub"]
    assert isinstance(text, str), f"expected !Sub with a plain string, got {value!r}"
    return text


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


FUNCTIONS = of_type("AWS::Serverless::Function")
ROUTES = of_type("AWS::ApiGatewayV2::Route")
ROUTE_RESPONSES = of_type("AWS::ApiGatewayV2::RouteResponse")
INTEGRATIONS = of_type("AWS::ApiGatewayV2::Integration")
PERMISSIONS = of_type("AWS::Lambda::Permission")
(API_ID,) = of_type("AWS::ApiGatewayV2::Api")
(TABLE_ID,) = of_type("AWS::DynamoDB::Table")
GLOBAL_FUNCTION: dict[str, Any] = (TEMPLATE.get("Globals") or {}).get("Function") or {}
ROUTE_IDS = sorted(ROUTES)
# A handshake and a close have no frame to reply with; every other route answers its caller.
MESSAGE_ROUTE_IDS = [
    r for r in ROUTE_IDS if ROUTES[r]["RouteKey"] not in {"$connect", "$disconnect"}
]


def function_property(function_id: str, name: str) -> Any:
    return FUNCTIONS[function_id].get(name, GLOBAL_FUNCTION.get(name))


def statements() -> Iterator[tuple[str, dict[str, Any]]]:
    """(function id, statement) for every inline policy statement of every function."""
    for function_id, props in FUNCTIONS.items():
        for listed in props.get("Policies") or []:
            # A SAM policy template (DynamoDBCrudPolicy, ...) is broader than we allow.
            assert isinstance(listed, dict), f"{function_id}: use inline statements, not {listed!r}"
            policy = listed
            if set(listed) == {"Fn::If"}:
                # A statement that exists only under a condition, and nothing otherwise.
                _condition, policy, otherwise = listed["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}, f"{function_id}: {otherwise!r}"
            assert set(policy) == {"Statement"}, f"{function_id}: unexpected policy {policy!r}"
            for statement in policy["Statement"]:
                yield function_id, statement


def actions(statement: dict[str, Any]) -> list[str]:
    return [str(action) for action in as_list(statement["Action"])]


# ------------------------------------------------------------------------ the tools


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
    )


def test_cfn_lint_reports_nothing() -> None:
    # The cfn-lint of the environment running the tests (.venv), not whatever is on PATH.
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    assert cfn_lint.exists(), f"{cfn_lint} is missing: run scripts/setup"
    result = run(cfn_lint, TEMPLATE_PATH)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_sam_validate_lint_says_valid() -> None:
    result = run(ROOT / "scripts" / "sam", "validate", "--lint", "--template-file", TEMPLATE_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout, result.stdout + result.stderr


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("sam") / "build"
    result = run(
        ROOT / "scripts" / "sam",
        "build",
        "--template-file",
        TEMPLATE_PATH,
        "--build-dir",
        build,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Build Succeeded" in result.stdout, result.stdout + result.stderr
    return build


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_sam_build_packages_each_function_with_its_handler(
    build_dir: Path, function_id: str
) -> None:
    module, _, _ = function_property(function_id, "Handler").rpartition(".")
    assert (build_dir / function_id / "switchboard").is_dir()
    assert (build_dir / function_id / (module.replace(".", "/") + ".py")).is_file()


def test_sam_build_packages_the_http_api_with_its_page_and_layer(build_dir: Path) -> None:
    page = build_dir / "HttpApiFunction" / "switchboard" / "http_api" / "static" / "index.html"
    assert '<meta name="switchboard-websocket-url" content="__WEBSOCKET_URL__">' in (
        page.read_text(encoding="utf-8")
    )
    for package in ("fastapi", "mangum", "pydantic_core"):
        assert (build_dir / "HttpLayer" / "python" / package).is_dir(), package


def test_runtime_is_python_3_13() -> None:
    # The newest Lambda Python runtime whose interpreter scripts/sam finds here.
    assert {function_property(f, "Runtime") for f in FUNCTIONS} == {"python3.13"}


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_handler_names_a_callable_of_the_package(function_id: str) -> None:
    assert function_property(function_id, "CodeUri") == "src/"
    module, _, attribute = function_property(function_id, "Handler").rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_functions_are_told_the_table(function_id: str) -> None:
    variables = {
        **((GLOBAL_FUNCTION.get("Environment") or {}).get("Variables") or {}),
        **((FUNCTIONS[function_id].get("Environment") or {}).get("Variables") or {}),
    }
    assert variables["TABLE_NAME"] == {"Ref": TABLE_ID}


# ------------------------------------------------------------------ the WebSocket API


def test_api_selects_routes_by_action() -> None:
    api = of_type("AWS::ApiGatewayV2::Api")[API_ID]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"


def test_routes_are_the_protocol() -> None:
    keys = {props["RouteKey"] for props in ROUTES.values()}
    assert keys == {"$connect", "$disconnect", "$default", *ACTIONS}
    assert len(ACTIONS) == 7


# ---------------------------------------------------------------------- authorizer


def test_connect_is_guarded_by_the_request_authorizer() -> None:
    (connect_id,) = [r for r in ROUTE_IDS if ROUTES[r]["RouteKey"] == "$connect"]
    (authorizer_id,) = of_type("AWS::ApiGatewayV2::Authorizer")
    authorizer = of_type("AWS::ApiGatewayV2::Authorizer")[authorizer_id]
    assert ROUTES[connect_id]["AuthorizationType"] == "CUSTOM"
    assert ROUTES[connect_id]["AuthorizerId"] == {"Ref": authorizer_id}
    assert authorizer["AuthorizerType"] == "REQUEST"
    # No identity source: tokens come from ?token= or a header, and guests bring none.
    assert "IdentitySource" not in authorizer
    assert "${AuthorizerFunction.Arn}" in sub_text(authorizer["AuthorizerUri"])
    permissions = [
        props
        for props in of_type("AWS::Lambda::Permission").values()
        if props["FunctionName"] == {"Ref": "AuthorizerFunction"}
    ]
    assert len(permissions) == 1
    assert sub_text(permissions[0]["SourceArn"]).endswith(f"/authorizers/${{{authorizer_id}}}")
    for route_id in ROUTE_IDS:
        if ROUTES[route_id]["RouteKey"] != "$connect":
            assert ROUTES[route_id]["AuthorizationType"] == "NONE"


def test_only_the_token_checkers_read_the_token_secret_and_have_pyjwt() -> None:
    # The $connect authorizer, and the HTTP API, which checks the same tokens itself.
    checkers = {"AuthorizerFunction", "HttpApiFunction"}
    readers = {
        function_id
        for function_id, statement in statements()
        if any(action.startswith("secretsmanager:") for action in actions(statement))
    }
    assert readers == checkers
    for _function_id, statement in statements():
        if any(action.startswith("secretsmanager:") for action in actions(statement)):
            assert actions(statement) == ["secretsmanager:GetSecretValue"]
            assert statement["Resource"] == {"Ref": "TokenSecret"}
    layered = {fid for fid, props in FUNCTIONS.items() if props.get("Layers")}
    assert layered == checkers
    # cryptography (RS256/ES256) only where a JwksUrl needs it: HS256 cold starts without it.
    crypto = {"Fn::If": ["UseJwks", {"Ref": "CryptoLayer"}, {"Ref": "AWS::NoValue"}]}
    assert RESOURCES["CryptoLayer"]["Condition"] == "UseJwks"
    assert FUNCTIONS["AuthorizerFunction"]["Layers"] == [{"Ref": "JwtLayer"}, crypto]
    assert FUNCTIONS["HttpApiFunction"]["Layers"] == [
        {"Ref": "HttpLayer"},
        {"Ref": "JwtLayer"},
        crypto,
    ]


def test_anonymous_access_is_off_by_default_and_the_secret_is_generated() -> None:
    parameters = TEMPLATE["Parameters"]
    assert parameters["AllowAnonymous"]["Default"] == "false"
    secret = RESOURCES["TokenSecret"]
    assert secret["Condition"] == "UseSharedSecret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in secret["Properties"]


def test_message_bodies_are_not_logged_by_default() -> None:
    """Bodies are the users' words: a deployed stack logs none unless asked to preview some."""
    preview = TEMPLATE["Parameters"]["LogPreviewChars"]
    assert (preview["Default"], preview["MinValue"], preview["MaxValue"]) == (0, 0, 256)
    variables = (GLOBAL_FUNCTION.get("Environment") or {}).get("Variables") or {}
    assert variables["LOG_PREVIEW_CHARS"] == {"Ref": "LogPreviewChars"}


def route_integration(route_id: str) -> str:
    target = sub_text(ROUTES[route_id]["Target"])
    match = re.fullmatch(r"integrations/\$\{([A-Za-z0-9]+)\}", target)
    assert match, f"{route_id}: Target {target!r} is not integrations/${{Integration}}"
    assert match.group(1) in INTEGRATIONS, f"{route_id}: {match.group(1)} is no Integration"
    return match.group(1)


def route_function(route_id: str) -> str:
    """The function behind a route, following Target -> Integration -> IntegrationUri."""
    integration = INTEGRATIONS[route_integration(route_id)]
    assert integration["ApiId"] == {"Ref": API_ID}
    assert integration["IntegrationType"] == "AWS_PROXY"
    uri = sub_text(integration["IntegrationUri"])
    assert uri.endswith("/invocations"), uri
    functions = references(integration["IntegrationUri"]) & set(FUNCTIONS)
    assert len(functions) == 1, f"{route_id}: {uri!r} names no single function"
    return functions.pop()


@pytest.mark.parametrize("route_id", ROUTE_IDS)
def test_route_is_integrated_with_a_function(route_id: str) -> None:
    assert ROUTES[route_id]["ApiId"] == {"Ref": API_ID}
    assert route_function(route_id) in FUNCTIONS


def test_each_route_has_an_integration_of_its_own() -> None:
    targets = sorted(route_integration(route_id) for route_id in ROUTE_IDS)
    assert targets == sorted(INTEGRATIONS), "routes share an integration, or one is unused"


@pytest.mark.parametrize("route_id", ROUTE_IDS)
def test_route_function_may_be_invoked_for_that_route(route_id: str) -> None:
    function_id = route_function(route_id)
    route_key = ROUTES[route_id]["RouteKey"]
    granted = [
        props
        for props in PERMISSIONS.values()
        if props["FunctionName"] == {"Ref": function_id}
        and sub_text(props["SourceArn"]).endswith(f"/{route_key}")
    ]
    assert len(granted) == 1, f"no single Lambda::Permission lets {route_key} invoke {function_id}"
    (permission,) = granted
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert "${" + API_ID + "}" in sub_text(permission["SourceArn"])


@pytest.mark.parametrize("route_id", MESSAGE_ROUTE_IDS)
def test_replies_go_back_on_every_message_route(route_id: str) -> None:
    route = ROUTES[route_id]
    responses = [
        props for props in ROUTE_RESPONSES.values() if props["RouteId"] == {"Ref": route_id}
    ]
    assert route.get("RouteResponseSelectionExpression") == "$default"
    assert [props["RouteResponseKey"] for props in responses] == ["$default"]
    assert responses[0]["ApiId"] == {"Ref": API_ID}


def test_stage_auto_deploys_after_every_route_and_route_response() -> None:
    # A Deployment resource is created once: on a stack update, changed routes would never
    # reach the stage. AutoDeploy redeploys on every change.
    assert not of_type("AWS::ApiGatewayV2::Deployment")
    ((stage_id, stage),) = of_type("AWS::ApiGatewayV2::Stage").items()
    assert stage["AutoDeploy"] is True
    assert "DeploymentId" not in stage
    depends_on = set(as_list(RESOURCES[stage_id].get("DependsOn") or []))
    missing = (set(ROUTES) | set(ROUTE_RESPONSES)) - depends_on
    assert not missing, f"{stage_id}'s first deployment may come before {sorted(missing)}"


def test_stage_is_the_parameter() -> None:
    ((_, stage),) = of_type("AWS::ApiGatewayV2::Stage").items()
    assert stage["StageName"] == {"Ref": "StageName"}
    assert "StageName" in TEMPLATE["Parameters"]


# --------------------------------------------------------------------------- the table


def test_table_is_on_demand_recoverable_encrypted_and_expiring() -> None:
    table = of_type("AWS::DynamoDB::Table")[TABLE_ID]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_table_keys_are_pk_and_sk_strings() -> None:
    table = of_type("AWS::DynamoDB::Table")[TABLE_ID]
    assert table["KeySchema"] == [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
    ]
    assert "GlobalSecondaryIndexes" not in table


# ----------------------------------------------------------------------- permissions


def test_only_inline_policies_and_no_roles_of_our_own() -> None:
    assert list(statements())
    assert not of_type("AWS::IAM::Role")
    assert not of_type("AWS::IAM::Policy")
    assert not any("Role" in props for props in FUNCTIONS.values())


def test_nothing_may_scan_or_use_wildcards() -> None:
    for function_id, statement in statements():
        assert statement["Effect"] == "Allow"
        for action in actions(statement):
            assert "*" not in action, f"{function_id}: wildcard action {action}"
            assert action.lower() != "dynamodb:scan", f"{function_id} may Scan"
        for resource in as_list(statement["Resource"]):
            assert resource != "*", f"{function_id}: {actions(statement)} on every resource"


def test_dynamodb_access_is_scoped_to_the_table() -> None:
    for function_id, statement in statements():
        if not any(action.startswith("dynamodb:") for action in actions(statement)):
            continue
        assert all(action.startswith("dynamodb:") for action in actions(statement))
        for resource in as_list(statement["Resource"]):
            assert resource == {"Fn::GetAtt": [TABLE_ID, "Arn"]}, f"{function_id}: {resource!r}"


def test_connect_function_cannot_post_to_connections() -> None:
    for function_id, statement in statements():
        if function_id == "ConnectFunction":
            assert not any(a.startswith("execute-api:") for a in actions(statement))


def test_manage_connections_is_scoped_to_this_api_and_stage() -> None:
    posting = set()
    scoped = (
        r"arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:"
        rf"\$\{{{API_ID}\}}/\$\{{StageName\}}/POST/@connections/\*"
    )
    for function_id, statement in statements():
        if not any(action.startswith("execute-api:") for action in actions(statement)):
            continue
        assert actions(statement) == ["execute-api:ManageConnections"]
        for resource in as_list(statement["Resource"]):
            assert re.fullmatch(scoped, sub_text(resource)), f"{function_id}: {resource!r}"
        posting.add(function_id)
    # The functions that fan out: join/leave/sendmessage, $disconnect's "left", HTTP pushes.
    assert posting == {"ChatFunction", "DisconnectFunction", "HttpApiFunction"}


# --------------------------------------------------------------------------- outputs


def test_outputs_give_the_urls_and_the_table() -> None:
    outputs = TEMPLATE["Outputs"]
    websocket = sub_text(outputs["WebSocketURL"]["Value"])
    connections = sub_text(outputs["ConnectionsURL"]["Value"])
    assert websocket.startswith("wss://${" + API_ID + "}.execute-api.")
    assert websocket.endswith("/${StageName}")
    assert connections == "https://" + websocket.removeprefix("wss://") + "/@connections"
    assert outputs["TableName"]["Value"] == {"Ref": TABLE_ID}


# -------------------------------------------------------------------------- the HTTP API

HTTP_APIS = of_type("AWS::Serverless::HttpApi")


def http_events(function_id: str) -> dict[str, dict[str, Any]]:
    events = FUNCTIONS[function_id].get("Events") or {}
    return {name: event for name, event in events.items() if event["Type"] == "HttpApi"}


def test_http_api_is_one_serverless_http_api_without_cors() -> None:
    assert list(HTTP_APIS) == ["HttpApi"]
    api = HTTP_APIS["HttpApi"]
    # Backends are not browsers, and the chat page comes from this API itself: no CORS.
    assert "CorsConfiguration" not in api
    assert api["FailOnWarnings"] is True
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert "Auth" not in api, "the app checks the tokens itself (HS256 or JWKS alike)"


def test_only_the_http_api_function_has_http_events() -> None:
    assert {fid for fid in FUNCTIONS if http_events(fid)} == {"HttpApiFunction"}


def test_http_routes_are_exactly_the_apps_routes() -> None:
    """One explicit HttpApi event per endpoint the FastAPI app serves, and no other."""
    app = create_app(HttpSettings())
    # What the OpenAPI document lists, and FastAPI's own routes that serve it (and /docs).
    served = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    } | {
        f"{method} {route.path}"
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    routed = set()
    for name, event in http_events("HttpApiFunction").items():
        properties = event["Properties"]
        assert set(properties) == {"ApiId", "Method", "Path"}, name
        assert properties["ApiId"] == {"Ref": "HttpApi"}, name
        routed.add(f"{properties['Method']} {properties['Path']}")
    assert len(routed) == len(http_events("HttpApiFunction")), "a route listed twice"
    assert routed == served
    assert {
        "POST /rooms/{room}/messages",
        "POST /users/{userId}/messages",
        "GET /rooms",
        "GET /rooms/{room}/members",
        "GET /rooms/{room}/history",
        "GET /health",
        "GET /openapi.json",
        "GET /docs",
        "GET /",
    } == routed


def test_http_api_function_runs_the_mangum_handler_with_its_layers() -> None:
    props = FUNCTIONS["HttpApiFunction"]
    assert props["Handler"] == "switchboard.http_api.handler.handler"
    assert RESOURCES["HttpApiFunction"]["Metadata"] == {"BuildMethod": "makefile"}
    layer = RESOURCES["HttpLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/http/"
    assert layer["Metadata"] == RESOURCES["JwtLayer"]["Metadata"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    requirements = (ROOT / "layers" / "http" / "requirements.txt").read_text()
    assert {"fastapi", "mangum"} <= {
        re.split(r"[<>=\[ ]", line)[0].lower()
        for line in requirements.splitlines()
        if line and not line.startswith("#")
    }


def test_http_api_function_checks_tokens_as_the_authorizer_does() -> None:
    http = FUNCTIONS["HttpApiFunction"]["Environment"]["Variables"]
    authorizer = FUNCTIONS["AuthorizerFunction"]["Environment"]["Variables"]
    token_settings = {name for name in authorizer if name.startswith(("TOKEN_", "JWKS_"))}
    assert token_settings == {
        "TOKEN_SECRET_ID",
        "JWKS_URL",
        "TOKEN_ISSUER",
        "TOKEN_AUDIENCE",
        "TOKEN_ALGORITHMS",
    }
    assert {name: http[name] for name in token_settings} == {
        name: authorizer[name] for name in token_settings
    }
    assert "ALLOW_ANONYMOUS" not in http, "there are no guests on the HTTP API"
    (secret_policy,) = [
        policy
        for policy in FUNCTIONS["HttpApiFunction"]["Policies"]
        if "secretsmanager" in str(policy)
    ]
    condition, _statement, otherwise = secret_policy["Fn::If"]
    assert (condition, otherwise) == ("UseSharedSecret", {"Ref": "AWS::NoValue"})


def test_http_api_function_is_told_the_websocket_url() -> None:
    variables = FUNCTIONS["HttpApiFunction"]["Environment"]["Variables"]
    outputs = TEMPLATE["Outputs"]
    assert variables["WEBSOCKET_URL"] == outputs["WebSocketURL"]["Value"]


def test_http_api_function_may_use_only_what_it_does() -> None:
    dynamodb = [
        action
        for function_id, statement in statements()
        if function_id == "HttpApiFunction"
        for action in actions(statement)
        if action.startswith("dynamodb:")
    ]
    # Read and page (Query, GetItem), store history (PutItem), prune stale connections
    # (GetItem; DeleteItem and PutItem, the departure note, in a transaction). Rooms are
    # registered by joins, not here.
    assert sorted(dynamodb) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
    ]


def test_outputs_give_the_http_api_url() -> None:
    url = sub_text(TEMPLATE["Outputs"]["HttpApiUrl"]["Value"])
    assert url == "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"


# ------------------------------------------------------------------ parameters the code checks

DEPLOYED_AUTH_ENV = {
    "TOKEN_ISSUER": "switchboard",
    "TOKEN_AUDIENCE": "switchboard",
    "TOKEN_SECRET_ID": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:token",
}


@pytest.mark.parametrize(
    ("parameter", "variable", "value"),
    [
        ("TokenIssuer", "TOKEN_ISSUER", "https://cognito-idp.eu-west-1.amazonaws.com/pool"),
        ("TokenIssuer", "TOKEN_ISSUER", ""),
        ("TokenIssuer", "TOKEN_ISSUER", "   "),
        ("TokenAudience", "TOKEN_AUDIENCE", "client-id"),
        ("TokenAudience", "TOKEN_AUDIENCE", ""),
        ("JwksUrl", "JWKS_URL", ""),
        ("JwksUrl", "JWKS_URL", "https://issuer.example/.well-known/jwks.json"),
        ("JwksUrl", "JWKS_URL", "http://issuer.example/.well-known/jwks.json"),
        ("JwksUrl", "JWKS_URL", "issuer.example/jwks.json"),
        ("JwksUrl", "JWKS_URL", "http://127.0.0.1:8080/.well-known/jwks.json"),
        ("JwksUrl", "JWKS_URL", "http://127.0.0.1.example/jwks.json"),
    ],
)
def test_a_parameter_the_functions_would_refuse_is_refused_at_deploy(
    parameter: str, variable: str, value: str
) -> None:
    # CloudFormation matches AllowedPattern against the whole value (Java regex; these
    # patterns mean the same in Python). A value the pattern lets through must be one the
    # functions start with, or every $connect and HTTP call would fail after the deploy.
    from switchboard.config import AuthConfig
    from switchboard.errors import ConfigError

    pattern = TEMPLATE["Parameters"][parameter]["AllowedPattern"]
    env = {**DEPLOYED_AUTH_ENV, variable: value}
    if variable == "JWKS_URL" and value:
        del env["TOKEN_SECRET_ID"]  # the template sets one or the other (UseJwks)
        env["TOKEN_ALGORITHMS"] = "RS256"
    try:
        AuthConfig.from_env(env)
        starts = True
    except ConfigError:
        starts = False
    assert (re.fullmatch(pattern, value) is not None) == starts


# ------------------------------------------------------------------------------- logs


def test_every_function_logs_to_a_log_group_of_the_stack_with_a_retention() -> None:
    # A log group Lambda creates by itself keeps the logs (connection and user ids) forever
    # and outlives `sam delete`.
    functions = of_type("AWS::Serverless::Function")
    groups = of_type("AWS::Logs::LogGroup")
    assert functions
    used = set()
    for function_id, props in functions.items():
        group = props.get("LoggingConfig", {}).get("LogGroup")
        assert isinstance(group, dict) and set(group) == {"Ref"}, function_id
        assert group["Ref"] in groups, function_id
        used.add(group["Ref"])
    assert used == set(groups), "one log group per function, none unused"
    for group_id, props in groups.items():
        assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}, group_id
        assert RESOURCES[group_id].get("DeletionPolicy", "Delete") == "Delete", group_id
    assert (
        TEMPLATE["Parameters"]["LogRetentionDays"]["Default"]
        in (TEMPLATE["Parameters"]["LogRetentionDays"]["AllowedValues"])
    )
