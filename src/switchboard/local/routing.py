"""Route selection as API Gateway does it: evaluate the expression, stringify, match exactly."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
_MISSING = object()


def select_route(expression: str, body: str | None, routes: Collection[str]) -> str | None:
    """The route key for a message, `$default` when nothing matches, None when no route fits."""
    key = evaluate(expression, body)
    if key is not None and key in routes and not key.startswith("$"):
        return key
    if "$default" in routes:
        return "$default"
    return None


def evaluate(expression: str, body: str | None) -> str | None:
    """The expression's value for this body, or None when a path is missing or not JSON."""
    try:
        document: Any = json.loads(body) if body is not None else _MISSING
    except (ValueError, RecursionError):
        return None
    if document is _MISSING:
        return None
    if "${" in expression:
        parts: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(expression):
            parts.append(expression[position : match.start()])
            value = _lookup(document, "$" + match.group(1))
            if value is None:
                return None
            parts.append(value)
            position = match.end()
        parts.append(expression[position:])
        return "".join(parts)
    return _lookup(document, expression)


def _lookup(document: Any, path: str) -> str | None:
    prefix = "$request.body"
    if not path.startswith(prefix):
        # Only body paths select routes; anything else is a static key.
        return path
    node = document
    rest = path[len(prefix) :]
    for segment in filter(None, rest.split(".")):
        if not isinstance(node, dict) or segment not in node:
            return None
        node = node[segment]
    if node is None:
        return None
    if isinstance(node, str):
        return node
    return json.dumps(node, separators=(",", ":"))
