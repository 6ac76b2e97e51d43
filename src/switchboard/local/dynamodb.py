"""Start the embedded DynamoDB and create the template's tables in it."""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from switchboard.local.child_process import start_child, stop_child
from switchboard.local.faults import FaultPlan
from switchboard.local.template_intrinsics import REGION
from switchboard.local.template_model import SecretModel, TableModel

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
_TABLE_KEYS = (
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
    "SSESpecification",
    "TableClass",
)


class EmbeddedDynamoDB:
    """moto's DynamoDB in a child process on a loopback port."""

    def __init__(self, host: str = "127.0.0.1", faults: FaultPlan | None = None) -> None:
        self._host = host
        self._faults = faults
        self._process: asyncio.subprocess.Process | None = None
        self.endpoint = ""

    async def start(self) -> str:
        faults = self._faults
        extra = ["--faults", faults.spec()] if faults is not None and faults.dynamodb_active else []
        self._process, line = await start_child(
            "switchboard.local.dynamodb_server", "--host", self._host, *extra
        )
        if not line.startswith(b"READY "):
            raise RuntimeError(f"the embedded DynamoDB did not start: {line!r}")
        self.endpoint = f"http://{self._host}:{int(line.split()[1])}"
        return self.endpoint

    async def stop(self) -> None:
        await stop_child(self._process, grace=5)


def dynamodb_client(
    endpoint: str, credentials: dict[str, str] | None = None, config: BotoConfig | None = None
) -> Any:
    """A DynamoDB client for `endpoint`, with the local credentials unless others are given."""
    creds = credentials or LOCAL_CREDENTIALS
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY"),
        config=config or BotoConfig(retries={"mode": "standard", "max_attempts": 3}),
    )


def create_tables(client: Any, tables: dict[str, TableModel]) -> list[str]:
    """Create each table from its template definition; existing tables are left alone."""
    existing: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        existing.update(page.get("TableNames", []))
    created = []
    for table in tables.values():
        if table.name in existing:
            continue
        props = table.properties
        kwargs = {key: props[key] for key in _TABLE_KEYS if key in props}
        if "SSESpecification" in kwargs:
            kwargs["SSESpecification"] = {
                "Enabled": bool(props["SSESpecification"].get("SSEEnabled"))
            }
        client.create_table(TableName=table.name, **kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        created.append(table.name)
    return created


def create_secrets(endpoint: str, secrets: dict[str, SecretModel], generated: str) -> None:
    """Create the template's secrets; generated ones hold the local development secret."""
    client = boto3.client(
        "secretsmanager",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    for secret in secrets.values():
        value = secret.secret_string if secret.secret_string is not None else generated
        try:
            client.create_secret(Name=secret.name, SecretString=value)
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=secret.name, SecretString=value)
