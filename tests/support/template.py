"""template.yaml the way the tests need it, read by the local gateway's own template reader."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from switchboard.local.cfn_yaml import load_template
from switchboard.local.template_model import TemplateModel, read_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@cache
def template() -> dict[str, Any]:
    """template.yaml as the local gateway reads it (one reader for the gateway and tests)."""
    return load_template(TEMPLATE)


@cache
def model() -> TemplateModel:
    return read_template(TEMPLATE)


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {
        name: resource
        for name, resource in template()["Resources"].items()
        if resource["Type"] == kind
    }


def table_properties() -> dict[str, Any]:
    properties: dict[str, Any] = template()["Resources"]["ConnectionsTable"]["Properties"]
    return properties


def create_table(client: Any, table_name: str) -> None:
    """Create the table as template.yaml defines ConnectionsTable: keys, billing mode, TTL.

    Encryption is left out: it changes nothing moto serves, and moto makes a KMS key (an RSA
    key generation, ~60 ms) for it in every test. tests/test_template.py checks it is on.
    """
    properties = table_properties()
    client.create_table(
        TableName=table_name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties["BillingMode"],
    )
    ttl = properties["TimeToLiveSpecification"]
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]},
    )


def route_keys() -> set[str]:
    routes = resources("AWS::ApiGatewayV2::Route").values()
    return {str(route["Properties"]["RouteKey"]) for route in routes}


def handler_for_route(route_key: str) -> str:
    """The `Handler` string of the function behind a route: Route -> Integration -> Function."""
    route = model().routes[route_key]
    return model().function(route.function).handler


def http_routes() -> dict[str, str]:
    """`METHOD /path` of every `HttpApi` event in the template -> the function it invokes."""
    routes: dict[str, str] = {}
    for function_id, resource in resources("AWS::Serverless::Function").items():
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                properties = event["Properties"]
                routes[f"{properties['Method']} {properties['Path']}"] = function_id
    return routes


def function_environment() -> dict[str, Any]:
    """The environment variables every function gets (Globals), unresolved."""
    variables: dict[str, Any] = template()["Globals"]["Function"]["Environment"]["Variables"]
    return variables
