"""boto3 clients for the local stack: the `@connections` API and the embedded DynamoDB."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from tests.support.dynamodb import items

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient
    from mypy_boto3_dynamodb.client import DynamoDBClient

REGION = "us-east-1"
#: The embedded DynamoDB takes any credentials; the @connections API does not check them.
LOCAL_KEY = "local"
# One attempt: a retried 410 or 413 would hide what the gateway answered.
_NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=20)


def management_client(endpoint_url: str) -> ApiGatewayManagementApiClient:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint_url,
        region_name=REGION,
        config=_NO_RETRIES,
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
    )


def dynamodb_client(endpoint_url: str) -> DynamoDBClient:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=LOCAL_KEY,
        aws_secret_access_key=LOCAL_KEY,
    )


def error_code(error: Exception) -> tuple[str, int]:
    """The error code and HTTP status of a botocore ClientError."""
    response: dict[str, Any] = getattr(error, "response", {})
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def table_keys(client: DynamoDBClient, table: str) -> list[tuple[str, str]]:
    return sorted((item["PK"]["S"], item["SK"]["S"]) for item in items(client, table))
