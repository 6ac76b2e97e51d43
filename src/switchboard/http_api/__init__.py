"""The HTTP API: backends push to rooms and users, and read rooms, members and history.

A FastAPI app (`app.create_app`) behind Mangum (`handler.handler`), deployed as its own
function on an API Gateway HTTP API. It sends through the same code as the WebSocket
actions (`switchboard.messaging`, `switchboard.runtime`) and validates with the same rules
(`switchboard.protocol`); callers prove a service role with a token of the same JWT
scheme the `$connect` authorizer checks.
"""
