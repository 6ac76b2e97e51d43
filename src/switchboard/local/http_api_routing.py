"""Route selection as API Gateway HTTP APIs do it: the most specific route wins.

Route keys are `METHOD /path` (method `ANY` matches every method) or `$default`. Paths take
`{name}` variables, one whole segment each, and a greedy `{name+}` as the last segment,
which catches one or more segments. For a request, API Gateway prefers, in order: a full
match of the path (literal segments before variables, left to right), then a match through
a greedy variable (the longest literal prefix first), then `$default`; among routes of equal
path, the exact method before `ANY`. No match is `404 {"message":"Not Found"}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

DEFAULT_ROUTE = "$default"
ANY = "ANY"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", ANY})
_VARIABLE = re.compile(r"^\{([A-Za-z0-9_.-]+)(\+?)\}$")

T = TypeVar("T")


class InvalidRouteKey(ValueError):
    """A route key that API Gateway would refuse: not `METHOD /path` or `$default`."""


@dataclass(frozen=True)
class Segment:
    """One path segment of a route: a literal, or a variable (greedy when it ends in `+`)."""

    text: str
    variable: str | None = None
    greedy: bool = False


@dataclass(frozen=True)
class RoutePattern:
    route_key: str
    method: str
    segments: tuple[Segment, ...]

    @property
    def greedy(self) -> bool:
        return bool(self.segments) and self.segments[-1].greedy

    def match(self, path_segments: list[str]) -> dict[str, str] | None:
        """The path parameters when these request segments match the pattern, else None."""
        parameters: dict[str, str] = {}
        fixed = self.segments[:-1] if self.greedy else self.segments
        if self.greedy:
            # A greedy variable takes at least one segment: `/pets/{proxy+}` is not `/pets`.
            if len(path_segments) <= len(fixed):
                return None
        elif len(path_segments) != len(fixed):
            return None
        for segment, value in zip(fixed, path_segments, strict=False):
            if segment.variable is None:
                if segment.text != value:
                    return None
            elif not value:
                return None
            else:
                parameters[segment.variable] = value
        if self.greedy:
            rest = "/".join(path_segments[len(fixed) :])
            if not rest:
                return None
            parameters[str(self.segments[-1].variable)] = rest
        return parameters

    def precedence(self) -> tuple[int, ...]:
        """Sort key: smaller is more specific (literal segments first, exact method first)."""
        fixed = self.segments[:-1] if self.greedy else self.segments
        # A longer literal prefix is more specific among greedy routes; among full matches
        # every candidate has the same length, so this only compares greedy routes.
        length = -len(fixed) if self.greedy else 0
        kinds = tuple(0 if segment.variable is None else 1 for segment in fixed)
        return (length, *kinds, 1 if self.method == ANY else 0)


def split_path(path: str) -> list[str]:
    """`/a/b` as `["a", "b"]`, `/` as `[]`; a trailing slash is an empty last segment."""
    if path in ("", "/"):
        return []
    return path[1:].split("/") if path.startswith("/") else path.split("/")


def parse_route_key(route_key: str) -> RoutePattern | None:
    """The pattern of `METHOD /path`; None for `$default`. Raises InvalidRouteKey."""
    if route_key == DEFAULT_ROUTE:
        return None
    method, sep, path = route_key.partition(" ")
    if not sep or method not in METHODS:
        raise InvalidRouteKey(
            f"route key {route_key!r} must be '$default' or 'METHOD /path' with METHOD one of "
            + ", ".join(sorted(METHODS))
        )
    if not path.startswith("/") or " " in path:
        raise InvalidRouteKey(f"route key {route_key!r}: the path must start with '/'")
    segments: list[Segment] = []
    parts = split_path(path)
    for index, part in enumerate(parts):
        if "{" in part or "}" in part:
            variable = _VARIABLE.match(part)
            if variable is None:
                raise InvalidRouteKey(
                    f"route key {route_key!r}: {part!r} is not a path variable like {{name}}"
                )
            greedy = variable.group(2) == "+"
            if greedy and index != len(parts) - 1:
                raise InvalidRouteKey(
                    f"route key {route_key!r}: a greedy variable must be the last segment"
                )
            segments.append(Segment(part, variable.group(1), greedy))
        else:
            segments.append(Segment(part))
    return RoutePattern(route_key, method, tuple(segments))


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    route_key: str
    target: T
    path_parameters: dict[str, str]


class HttpRouter(Generic[T]):
    """Picks the route for a request among route keys, each with a target (its function)."""

    def __init__(self, routes: Mapping[str, T]) -> None:
        self._default: T | None = routes.get(DEFAULT_ROUTE)
        patterns = [
            (pattern, target)
            for key, target in routes.items()
            if (pattern := parse_route_key(key)) is not None
        ]
        self._full = sorted(
            ((p, t) for p, t in patterns if not p.greedy), key=lambda item: item[0].precedence()
        )
        self._greedy = sorted(
            ((p, t) for p, t in patterns if p.greedy), key=lambda item: item[0].precedence()
        )

    def match(self, method: str, path: str) -> RouteMatch[T] | None:
        segments = split_path(path)
        for group in (self._full, self._greedy):
            found = _first(group, method, segments)
            if found is not None:
                return found
        if self._default is not None:
            return RouteMatch(DEFAULT_ROUTE, self._default, {})
        return None


def _first(
    candidates: Iterable[tuple[RoutePattern, T]], method: str, segments: list[str]
) -> RouteMatch[T] | None:
    for pattern, target in candidates:
        if pattern.method not in (method, ANY):
            continue
        parameters = pattern.match(segments)
        if parameters is not None:
            return RouteMatch(pattern.route_key, target, parameters)
    return None
