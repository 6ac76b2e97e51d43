"""Switchboard: serverless WebSocket messaging on API Gateway, Lambda and DynamoDB."""

__version__ = "0.1.0"
