"""What the local gateway needs from template.yaml, with intrinsic functions resolved.

The template is the single source of truth: routes, their functions (Globals merged, the
Environment resolved), the authorizer, the stage and the DynamoDB tables all come from here,
and so do the HTTP API's routes (the `HttpApi` events of the functions). References resolve
to local stand-ins: a table's `Ref` is its name, a function's `Arn` a local ARN, URLs of
this WebSocket API (`https://{api}.execute-api...`, `wss://...`) point at the gateway itself,
so that functions reach the local `@connections` API, and URLs of the HTTP API point at the
local HTTP API server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard.local.cfn_yaml import load_template
from switchboard.local.http_api_routing import ANY, DEFAULT_ROUTE, InvalidRouteKey, parse_route_key
from switchboard.local.template_intrinsics import (
    IMPLICIT_HTTP_API,
    NO_VALUE,
    Resolver,
    TemplateError,
    ref_target,
)

#: API Gateway's limit for HTTP API integrations, and its default (SAM sets no other).
HTTP_INTEGRATION_TIMEOUT_MS = 30_000
_FUNCTION_IN_URI = re.compile(r":function:([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class FunctionModel:
    logical_id: str
    handler: str
    code_dir: Path
    runtime: str
    timeout: int
    memory_mb: int
    environment: dict[str, str]
    #: Where Lambda sends the function's logs: its LoggingConfig's group, else its own.
    log_group: str


@dataclass(frozen=True)
class AuthorizerModel:
    logical_id: str
    function: str
    identity_sources: tuple[str, ...]


@dataclass(frozen=True)
class RouteModel:
    route_key: str
    function: str
    has_route_response: bool
    authorizer: str | None = None


@dataclass(frozen=True)
class HttpRouteModel:
    """One route of the HTTP API: `METHOD /path` or `$default`, from a function's event."""

    route_key: str
    function: str
    event: str
    timeout_ms: int = HTTP_INTEGRATION_TIMEOUT_MS
    authorized: bool = False


@dataclass(frozen=True)
class HttpApiModel:
    """The template's HTTP API (`AWS::Serverless::HttpApi`, or SAM's implicit one)."""

    logical_id: str
    stage: str
    routes: dict[str, HttpRouteModel]


@dataclass(frozen=True)
class TableModel:
    logical_id: str
    name: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class SecretModel:
    """A Secrets Manager secret; without a SecretString it is generated (locally: dev_secret)."""

    logical_id: str
    name: str
    secret_string: str | None = None


@dataclass(frozen=True)
class TemplateModel:
    path: Path
    api_logical_id: str
    route_selection_expression: str
    stage: str
    routes: dict[str, RouteModel]
    functions: dict[str, FunctionModel]
    authorizers: dict[str, AuthorizerModel]
    tables: dict[str, TableModel]
    secrets: dict[str, SecretModel] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    http_api: HttpApiModel | None = None

    def function(self, logical_id: str) -> FunctionModel:
        try:
            return self.functions[logical_id]
        except KeyError:
            known = ", ".join(sorted(self.functions)) or "none"
            raise TemplateError(
                f"no function {logical_id!r} in the template (it has: {known})"
            ) from None


def read_template(
    path: str | Path,
    *,
    parameters: dict[str, str] | None = None,
    gateway_url: str = "http://127.0.0.1:3001",
    stage: str | None = None,
    http_api_url: str = "http://127.0.0.1:3000",
) -> TemplateModel:
    """Read a SAM template's WebSocket API, its HTTP API and everything their routes need.

    `stage` serves the API under another stage name; where the template takes the stage
    from a parameter, that parameter is set, so every `${StageName}` agrees.
    """
    path = Path(path).resolve()
    document = load_template(path)
    resources: dict[str, Any] = document.get("Resources") or {}
    parameters = dict(parameters or {})
    if stage is not None:
        for resource in resources.values():
            if resource.get("Type") == "AWS::ApiGatewayV2::Stage":
                stage_name = (resource.get("Properties") or {}).get("StageName")
                target = ref_target(stage_name)
                if isinstance(stage_name, dict) and target in (document.get("Parameters") or {}):
                    parameters.setdefault(str(target), stage)
    resolver = Resolver(document, parameters, gateway_url, http_api_url)
    # Resources whose Condition is false do not exist in this deployment.
    resources = {
        logical_id: resource
        for logical_id, resource in resources.items()
        if "Condition" not in resource or resolver.condition(str(resource["Condition"]))
    }

    apis = [
        logical_id
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::ApiGatewayV2::Api"
        and (resource.get("Properties") or {}).get("ProtocolType") == "WEBSOCKET"
    ]
    if not apis:
        raise TemplateError(f"{path} defines no AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET")
    api_id = apis[0]
    api_props = resources[api_id].get("Properties") or {}
    selection = str(resolver.resolve(api_props.get("RouteSelectionExpression", "")))

    def of_api(resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in resources.items()
            if resource.get("Type") == resource_type
            and resolver.refers_to((resource.get("Properties") or {}).get("ApiId"), api_id)
        }

    stages = of_api("AWS::ApiGatewayV2::Stage")
    if stage is None:
        stage = (
            str(resolver.resolve(next(iter(stages.values()))["StageName"]))
            if stages
            else "$default"
        )

    functions = {
        logical_id: _function_model(logical_id, resource, document, resolver, path.parent)
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    integrations = {
        logical_id: _function_of_uri(resolver.resolve(props.get("IntegrationUri")), logical_id)
        for logical_id, props in of_api("AWS::ApiGatewayV2::Integration").items()
    }
    authorizers = {
        logical_id: AuthorizerModel(
            logical_id=logical_id,
            function=_function_of_uri(resolver.resolve(props.get("AuthorizerUri")), logical_id),
            identity_sources=tuple(
                str(s) for s in resolver.resolve(props.get("IdentitySource") or [])
            ),
        )
        for logical_id, props in of_api("AWS::ApiGatewayV2::Authorizer").items()
        if props.get("AuthorizerType") == "REQUEST"
    }
    with_response = {
        ref_target(props.get("RouteId"))
        for props in of_api("AWS::ApiGatewayV2::RouteResponse").values()
        if props.get("RouteResponseKey") == "$default"
    }
    routes: dict[str, RouteModel] = {}
    for logical_id, props in of_api("AWS::ApiGatewayV2::Route").items():
        route_key = str(resolver.resolve(props["RouteKey"]))
        target = str(resolver.resolve(props.get("Target", "")))
        integration = target.removeprefix("integrations/")
        if integration not in integrations:
            raise TemplateError(
                f"route {route_key!r} targets {target!r}, not an integration of the API"
            )
        authorizer = None
        if props.get("AuthorizationType") == "CUSTOM":
            authorizer = ref_target(props.get("AuthorizerId"))
            if authorizer not in authorizers:
                raise TemplateError(f"route {route_key!r} names an unknown REQUEST authorizer")
        routes[route_key] = RouteModel(
            route_key=route_key,
            function=integrations[integration],
            has_route_response=logical_id in with_response,
            authorizer=authorizer,
        )
    for route in routes.values():
        if route.function not in functions:
            raise TemplateError(
                f"route {route.route_key!r} invokes {route.function!r}, "
                "which is not an AWS::Serverless::Function of this template"
            )
    tables = {
        logical_id: TableModel(
            logical_id,
            resolver.table_name(logical_id),
            resolver.resolve(resource.get("Properties") or {}),
        )
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    }
    secrets = {
        logical_id: SecretModel(
            logical_id,
            resolver.secret_name(logical_id),
            _optional_str(resolver.resolve((resource.get("Properties") or {}).get("SecretString"))),
        )
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::SecretsManager::Secret"
    }
    http_api = _http_api_model(resources, resolver)
    return TemplateModel(
        path=path,
        api_logical_id=api_id,
        route_selection_expression=selection,
        stage=stage,
        routes=routes,
        functions=functions,
        authorizers=authorizers,
        tables=tables,
        secrets=secrets,
        parameters=resolver.parameter_values,
        http_api=http_api,
    )


def has_http_api_events(document: dict[str, Any]) -> bool:
    """Whether any function of the template has an `HttpApi` event (before resolving it)."""
    for resource in (document.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        if isinstance(events, dict) and any(
            isinstance(event, dict) and event.get("Type") == "HttpApi" for event in events.values()
        ):
            return True
    return False


def _http_api_model(resources: dict[str, Any], resolver: Resolver) -> HttpApiModel | None:
    """The HTTP API served locally: every `HttpApi` event of every function, as routes."""
    routes_by_api: dict[str, dict[str, HttpRouteModel]] = {}
    for function, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        if not isinstance(events, dict):
            raise TemplateError(f"function {function}: Events must be a map of events")
        for event_id, event in events.items():
            if not isinstance(event, dict):
                raise TemplateError(f"function {function}, event {event_id}: not a map")
            if event.get("Type") != "HttpApi":
                continue
            owner = f"function {function}, event {event_id}"
            props = event.get("Properties") or {}
            api = ref_target(props.get("ApiId")) or IMPLICIT_HTTP_API
            if api != IMPLICIT_HTTP_API and (
                resources.get(api, {}).get("Type") != "AWS::Serverless::HttpApi"
            ):
                raise TemplateError(f"{owner}: ApiId {api!r} is not an AWS::Serverless::HttpApi")
            default_auth = ((resources.get(api) or {}).get("Properties") or {}).get("Auth")
            route = HttpRouteModel(
                route_key=_http_route_key(props, resolver, owner),
                function=function,
                event=event_id,
                timeout_ms=_http_timeout_ms(props, resolver, owner),
                authorized=_has_authorizer(props.get("Auth"), default_auth),
            )
            version = str(resolver.resolve(props.get("PayloadFormatVersion", "2.0")))
            if version != "2.0":
                raise TemplateError(
                    f"{owner}: PayloadFormatVersion {version} is not served locally (only 2.0)"
                )
            routes = routes_by_api.setdefault(api, {})
            if route.route_key in routes:
                other = routes[route.route_key]
                raise TemplateError(
                    f"{owner}: route {route.route_key!r} is already the event "
                    f"{other.event} of {other.function}"
                )
            routes[route.route_key] = route
    if not routes_by_api:
        return None
    if len(routes_by_api) > 1:
        raise TemplateError(
            "the local gateway serves one HTTP API; the HttpApi events use "
            + ", ".join(sorted(routes_by_api))
        )
    ((api, routes),) = routes_by_api.items()
    api_props = (resources[api].get("Properties") or {}) if api in resources else {}
    stage_name = api_props.get("StageName")
    stage = str(resolver.resolve(stage_name)) if stage_name is not None else "$default"
    return HttpApiModel(logical_id=api, stage=stage, routes=routes)


def _http_route_key(props: dict[str, Any], resolver: Resolver, owner: str) -> str:
    path = props.get("Path")
    method = props.get("Method")
    if path is None and method is None:
        # As SAM does: an event with neither is the API's catch-all route.
        return DEFAULT_ROUTE
    if path is None or method is None:
        raise TemplateError(f"{owner}: an HttpApi event needs both Path and Method, or neither")
    method_text = str(resolver.resolve(method)).upper()
    if method_text == "X-AMAZON-APIGATEWAY-ANY-METHOD":
        method_text = ANY
    route_key = f"{method_text} {resolver.resolve(path)}"
    try:
        parse_route_key(route_key)
    except InvalidRouteKey as error:
        raise TemplateError(f"{owner}: {error}") from None
    return route_key


def _http_timeout_ms(props: dict[str, Any], resolver: Resolver, owner: str) -> int:
    value = props.get("TimeoutInMillis")
    if value is None:
        return HTTP_INTEGRATION_TIMEOUT_MS
    try:
        timeout = int(resolver.resolve(value))
    except (TypeError, ValueError):
        raise TemplateError(f"{owner}: TimeoutInMillis must be a number") from None
    if not 50 <= timeout <= HTTP_INTEGRATION_TIMEOUT_MS:
        raise TemplateError(
            f"{owner}: TimeoutInMillis must be between 50 and {HTTP_INTEGRATION_TIMEOUT_MS}"
        )
    return timeout


def _has_authorizer(auth: Any, api_auth: Any) -> bool:
    """Whether API Gateway runs an authorizer for the route (the event's, or the API's default)."""
    authorizer = auth.get("Authorizer") if isinstance(auth, dict) else None
    if authorizer is None and isinstance(api_auth, dict):
        authorizer = api_auth.get("DefaultAuthorizer")
    return authorizer is not None and authorizer != "NONE"


def _optional_str(value: Any) -> str | None:
    return None if value is None or value is NO_VALUE else str(value)


def _function_model(
    logical_id: str,
    resource: dict[str, Any],
    document: dict[str, Any],
    resolver: Resolver,
    base: Path,
) -> FunctionModel:
    globals_ = ((document.get("Globals") or {}).get("Function")) or {}
    props = resource.get("Properties") or {}
    merged = {**globals_, **props}
    environment: dict[str, Any] = {
        **((globals_.get("Environment") or {}).get("Variables") or {}),
        **((props.get("Environment") or {}).get("Variables") or {}),
    }
    resolved_env = {
        name: _env_string(resolver.resolve(value)) for name, value in environment.items()
    }
    handler = merged.get("Handler")
    if not isinstance(handler, str):
        raise TemplateError(f"function {logical_id} has no Handler")
    code_uri = merged.get("CodeUri", ".")
    if not isinstance(code_uri, str):
        raise TemplateError(f"function {logical_id}: only a local CodeUri path can be served")
    return FunctionModel(
        logical_id=logical_id,
        handler=handler,
        code_dir=(base / code_uri).resolve(),
        runtime=str(merged.get("Runtime", "")),
        timeout=_whole_number(logical_id, "Timeout", resolver.resolve(merged.get("Timeout"))),
        memory_mb=_whole_number(
            logical_id, "MemorySize", resolver.resolve(merged.get("MemorySize"))
        ),
        environment={k: v for k, v in resolved_env.items() if v is not None},
        log_group=_log_group(logical_id, merged, resolver),
    )


#: What Lambda accepts (seconds, MB), and its default when the property is absent;
#: CloudFormation refuses anything else at deploy.
_FUNCTION_LIMITS = {"Timeout": (1, 900, 3), "MemorySize": (128, 10240, 128)}


def _whole_number(logical_id: str, name: str, value: Any) -> int:
    """A function's Timeout or MemorySize, refused as Lambda refuses it: it decides the
    function's time limit and its cores here (see core_allotment)."""
    low, high, default = _FUNCTION_LIMITS[name]
    if value is None or value is NO_VALUE:
        return default  # absent, or removed by `!Ref AWS::NoValue`: Lambda's default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value)  # a parameter's value arrives as a string
    if number is None or not low <= number <= high:
        raise TemplateError(
            f"function {logical_id}: {name} must be a whole number from {low} to {high}, "
            f"not {value!r}"
        )
    return number


def _log_group(logical_id: str, merged: dict[str, Any], resolver: Resolver) -> str:
    logging_config = resolver.resolve(merged.get("LoggingConfig") or {})
    group = logging_config.get("LogGroup") if isinstance(logging_config, dict) else None
    return group if isinstance(group, str) and group else f"/aws/lambda/{logical_id}"


def _env_string(value: Any) -> str | None:
    if value is NO_VALUE or value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _function_of_uri(uri: Any, owner: str) -> str:
    match = _FUNCTION_IN_URI.search(str(uri))
    if not match:
        raise TemplateError(f"{owner}: cannot find a Lambda function in {uri!r}")
    return match.group(1)
