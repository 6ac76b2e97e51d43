"""Read template.yaml the way the tests need it: the table definition and each route's Handler.

Small on purpose: PyYAML plus the CloudFormation short tags (`!Ref`, `!Sub`, `!GetAtt`, ...),
which become the long forms (`{"Ref": ...}`, `{"Fn::Sub": ...}`) CloudFormation itself reads.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
_SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}")


class CloudFormationLoader(yaml.SafeLoader):
    """A safe YAML loader that also understands CloudFormation's short-form tags."""


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _short_form)


@cache
def template() -> dict[str, Any]:
    with TEMPLATE.open(encoding="utf-8") as stream:
        loaded: dict[str, Any] = yaml.load(stream, Loader=CloudFormationLoader)
    return loaded


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
    routes = [
        route
        for route in resources("AWS::ApiGatewayV2::Route").values()
        if route["Properties"]["RouteKey"] == route_key
    ]
    assert len(routes) == 1, f"template.yaml has {len(routes)} routes with key {route_key!r}"
    integrations = resources("AWS::ApiGatewayV2::Integration")
    integration = _single_reference(routes[0]["Properties"]["Target"], set(integrations))
    uri = integrations[integration]["Properties"]["IntegrationUri"]
    functions = resources("AWS::Serverless::Function")
    properties = functions[_single_reference(uri, set(functions))]["Properties"]
    handler = properties.get("Handler") or template()["Globals"]["Function"]["Handler"]
    return str(handler)


def function_environment() -> dict[str, Any]:
    """The environment variables every function gets (Globals), unresolved."""
    variables: dict[str, Any] = template()["Globals"]["Function"]["Environment"]["Variables"]
    return variables


def _single_reference(value: Any, candidates: set[str]) -> str:
    """The one logical id among `candidates` that a `!Sub`/`!Ref`/`!GetAtt` value points at."""
    names: set[str]
    if isinstance(value, dict) and "Fn::Sub" in value:
        names = set(_SUB_REFERENCE.findall(str(value["Fn::Sub"])))
    elif isinstance(value, dict) and "Ref" in value:
        names = {str(value["Ref"])}
    elif isinstance(value, dict) and "Fn::GetAtt" in value:
        names = {str(value["Fn::GetAtt"][0])}
    else:
        names = set()
    matches = sorted(names & candidates)
    assert len(matches) == 1, f"{value!r} should point at one of {sorted(candidates)}: {matches}"
    return matches[0]
