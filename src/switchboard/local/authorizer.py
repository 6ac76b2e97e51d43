"""REQUEST authorizers on `$connect`, evaluated as API Gateway evaluates them.

Missing identity source or a thrown `Unauthorized`: 401, without or after invoking the
function. A policy that does not allow `execute-api:Invoke` on the route (or denies it): 403.
Any other failure of the authorizer: 500. On Allow, the policy's `context` plus
`principalId` become `requestContext.authorizer` on every later event of the connection.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from switchboard.local.event_builder import ConnectionInfo, authorizer_event
from switchboard.local.functions import FunctionPool
from switchboard.local.template_model import AuthorizerModel


@dataclass(frozen=True)
class Verdict:
    status: int | None = None
    message: str = ""
    context: dict[str, Any] = field(default_factory=dict)


def identity_value(source: str, info: ConnectionInfo) -> str | None:
    """The value of one identity source (`route.request.header.X`, `...querystring.Y`)."""
    source = source.removeprefix("$").removeprefix("route.")
    if source.startswith("request.header."):
        name = source.removeprefix("request.header.").lower()
        return next((v for k, v in info.headers if k.lower() == name), None)
    if source.startswith("request.querystring."):
        name = source.removeprefix("request.querystring.")
        return next((v for k, v in info.query if k == name), None)
    return None


async def authorize(
    model: AuthorizerModel,
    info: ConnectionInfo,
    pools: dict[str, FunctionPool],
    timeout: float,
) -> Verdict:
    for source in model.identity_sources:
        if not identity_value(source, info):
            return Verdict(401, "Unauthorized")
    event = authorizer_event(info)
    invocation = await pools[model.function].invoke(
        event, event["requestContext"]["requestId"], timeout
    )
    if not invocation.ok:
        message = (invocation.error or {}).get("errorMessage", "")
        if message == "Unauthorized":
            return Verdict(401, "Unauthorized")
        return Verdict(500, "Internal server error")
    return evaluate_policy(invocation.result, event["methodArn"])


def evaluate_policy(result: Any, method_arn: str) -> Verdict:
    if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict):
        return Verdict(500, "Internal server error")
    statements = result["policyDocument"].get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    allowed = False
    for statement in statements:
        if not isinstance(statement, dict) or not _covers(statement, method_arn):
            continue
        effect = str(statement.get("Effect", "")).lower()
        if effect == "deny":
            return Verdict(403, "Forbidden")
        if effect == "allow":
            allowed = True
    if not allowed:
        return Verdict(403, "Forbidden")
    context = result.get("context") or {}
    if not isinstance(context, dict) or any(
        not isinstance(v, (str, int, float, bool)) for v in context.values()
    ):
        # API Gateway accepts only flat string, number and boolean values here.
        return Verdict(500, "Internal server error")
    return Verdict(context={**context, "principalId": result.get("principalId")})


def _covers(statement: dict[str, Any], method_arn: str) -> bool:
    actions = statement.get("Action", [])
    actions = [actions] if isinstance(actions, str) else actions
    resources = statement.get("Resource", [])
    resources = [resources] if isinstance(resources, str) else resources
    action_ok = any(a in ("execute-api:Invoke", "execute-api:*", "*") for a in actions)
    return action_ok and any(fnmatch.fnmatchcase(method_arn, str(r)) for r in resources)
