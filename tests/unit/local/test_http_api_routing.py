"""Route selection of the local HTTP API, against API Gateway's documented precedence."""

from __future__ import annotations

import re

import pytest

from switchboard.local.http_api_routing import (
    HttpRouter,
    InvalidRouteKey,
    parse_route_key,
    split_path,
)

#: The routes of the developer guide's "Routing API requests" example, plus a few more.
ROUTES = [
    "GET /pets/dog/1",
    "GET /pets/dog/{id}",
    "GET /pets/{proxy+}",
    "ANY /{proxy+}",
    "POST /pets/{petId}/toys/{toyId}",
    "ANY /pets/dog/{id}",
    "GET /",
    "$default",
]


def router(routes: list[str] = ROUTES) -> HttpRouter[str]:
    return HttpRouter({key: key for key in routes})


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        # A full match of literal segments beats a variable.
        ("GET", "/pets/dog/1", "GET /pets/dog/1", {}),
        ("GET", "/pets/dog/2", "GET /pets/dog/{id}", {"id": "2"}),
        # The exact method beats ANY on the same path.
        ("PUT", "/pets/dog/2", "ANY /pets/dog/{id}", {"id": "2"}),
        # A full match beats a greedy one; a greedy match takes one or more segments.
        ("GET", "/pets/cat/1", "GET /pets/{proxy+}", {"proxy": "cat/1"}),
        ("GET", "/pets/cat", "GET /pets/{proxy+}", {"proxy": "cat"}),
        # The longer literal prefix wins among greedy routes; ANY serves other methods.
        ("DELETE", "/pets/cat/1", "ANY /{proxy+}", {"proxy": "pets/cat/1"}),
        ("GET", "/pets", "ANY /{proxy+}", {"proxy": "pets"}),
        (
            "POST",
            "/pets/7/toys/ball",
            "POST /pets/{petId}/toys/{toyId}",
            {
                "petId": "7",
                "toyId": "ball",
            },
        ),
        ("GET", "/", "GET /", {}),
        # Nothing else matches: `$default`.
        ("POST", "/", "$default", {}),
    ],
)
def test_the_most_specific_route_wins(
    method: str, path: str, route_key: str, parameters: dict[str, str]
) -> None:
    match = router().match(method, path)
    assert match is not None
    assert (match.route_key, match.target, match.path_parameters) == (
        route_key,
        route_key,
        parameters,
    )


def test_no_route_and_no_default_is_no_match() -> None:
    routes = router(["GET /health", "POST /rooms/{room}/messages"])
    assert routes.match("GET", "/nope") is None
    assert routes.match("POST", "/health") is None  # the method must match too
    assert routes.match("POST", "/rooms//messages") is None  # a variable is never empty
    assert routes.match("POST", "/rooms/a/b/messages") is None  # nor more than one segment
    assert routes.match("GET", "/health/") is None  # a trailing slash is another path


def test_a_greedy_variable_needs_at_least_one_segment() -> None:
    routes = router(["GET /files/{proxy+}"])
    assert routes.match("GET", "/files") is None
    assert routes.match("GET", "/files/") is None
    match = routes.match("GET", "/files/a/b/c.txt")
    assert match is not None and match.path_parameters == {"proxy": "a/b/c.txt"}


def test_a_literal_path_beats_a_variable_before_the_method_is_compared() -> None:
    match = router(["GET /pets/{id}", "ANY /pets/dog"]).match("GET", "/pets/dog")
    assert match is not None and match.route_key == "ANY /pets/dog"


def test_variables_match_the_decoded_segment() -> None:
    match = router(["GET /rooms/{room}/messages"]).match("GET", "/rooms/caf\u00e9 one/messages")
    assert match is not None and match.path_parameters == {"room": "caf\u00e9 one"}


@pytest.mark.parametrize(
    ("route_key", "message"),
    [
        ("/pets", "must be '$default' or 'METHOD /path'"),
        ("FETCH /pets", "must be '$default' or 'METHOD /path'"),
        ("get /pets", "must be '$default' or 'METHOD /path'"),
        ("GET pets", "the path must start with '/'"),
        ("GET /pets/{proxy+}/toys", "a greedy variable must be the last segment"),
        ("GET /pets/{id", "is not a path variable"),
        ("GET /pets/x{id}", "is not a path variable"),
    ],
)
def test_invalid_route_keys_are_refused_with_the_reason(route_key: str, message: str) -> None:
    with pytest.raises(InvalidRouteKey, match=re.escape(message)):
        parse_route_key(route_key)


def test_split_path() -> None:
    assert split_path("/") == []
    assert split_path("/a/b") == ["a", "b"]
    assert split_path("/a/") == ["a", ""]
