"""The local HTTP API (issue 5): `switchboard local` serves the template's `HttpApi` routes
through their functions with real payload 2.0 events, the path they take in AWS.

A fixture template (`fixture_app/http_api.yaml`) shows what the real app cannot: the event
as a function receives it, every kind of result, crashes, both timeouts, per-function
environments and a FastAPI app behind Mangum. A second one has a named stage and no
`$default` route. The real template is served too: a backend's push over HTTP reaches a
WebSocket client of the same local stack.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from switchboard.local.dev_secret import dev_secret
from switchboard.tokens import SERVICE_ROLE, mint
from tests.integration.async_test import async_test
from tests.integration.conftest import LEAK_CANARY
from tests.integration.local_gateway import (
    FIXTURE_APP,
    REPO,
    LocalGateway,
    running_gateway,
    start_gateway,
    stop_cleanly,
)
from tests.integration.ws_clients import client, receive_json, url

HTTP_API_TEMPLATE = FIXTURE_APP / "http_api.yaml"
STAGED_TEMPLATE = FIXTURE_APP / "http_api_stage.yaml"
USER_AGENT = "switchboard-http-api-tests/1.0"
MAX_BODY = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def http_gateway(logs_dir: Path) -> Iterator[LocalGateway]:
    """The HTTP API fixture; two processes per function keep the warm start small."""
    with running_gateway(
        HTTP_API_TEMPLATE,
        logs_dir / "http-api.stderr",
        "--max-processes",
        "2",
        extra_env=LEAK_CANARY,
    ) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def api(http_gateway: LocalGateway) -> Iterator[httpx.Client]:
    assert http_gateway.http_api_url is not None, http_gateway.banner
    with httpx.Client(
        base_url=http_gateway.http_api_url, timeout=30, headers={"User-Agent": USER_AGENT}
    ) as session:
        yield session


def echoed(response: httpx.Response) -> dict[str, Any]:
    """The event the echo function received, checked against the Lambda context it had."""
    assert response.status_code == 200, response.text
    reply = response.json()
    event: dict[str, Any] = reply["event"]
    assert event["requestContext"]["requestId"] == reply["requestId"]
    return event


# ------------------------------------------------------------------- the banner


def test_the_banner_lists_the_http_api_and_its_routes(http_gateway: LocalGateway) -> None:
    banner = "\n".join(http_gateway.banner)
    assert http_gateway.http_api_url is not None
    assert http_gateway.http_api_url.startswith("http://127.0.0.1:")
    assert "  HTTP API routes:" in banner
    for line in (
        "    GET /items/{id}                       -> EchoFunction (http_fixture_handlers.echo)",
        "    ANY /api/{proxy+}                     -> AsgiFunction (asgi_fixture_app.handler)",
        "    $default                              -> EchoFunction (http_fixture_handlers.echo)",
    ):
        assert line in http_gateway.banner


def test_the_banner_names_the_template_it_serves_and_both_connections_paths(
    http_gateway: LocalGateway,
) -> None:
    assert http_gateway.banner[0] == (
        f"Switchboard local gateway serving {HTTP_API_TEMPLATE.resolve()}"
    )
    [connections] = [line for line in http_gateway.banner if "@connections" in line]
    assert connections.endswith("/fixture/@connections/{connectionId}  (also without /fixture)")
    assert not any("WARNING" in line for line in http_gateway.banner)  # on loopback


# -------------------------------------------------------------------- the event


def test_the_event_is_payload_2_0_as_api_gateway_builds_it(
    http_gateway: LocalGateway, api: httpx.Client
) -> None:
    before = int(time.time() * 1000)
    event = echoed(
        api.get(
            "/items/42?a=1&a=2&b=&name=caf%C3%A9",
            headers=[
                ("X-Multi", "one"),
                ("X-Multi", "two"),
                ("Cookie", "session=abc; theme=dark"),
            ],
        )
    )
    after = int(time.time() * 1000)
    port = str(httpx.URL(api.base_url).port)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/42"
    assert event["rawQueryString"] == "a=1&a=2&b=&name=caf%C3%A9"
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert event["queryStringParameters"] == {"a": "1,2", "b": "", "name": "caf\u00e9"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    headers = event["headers"]
    assert headers["x-multi"] == "one,two"
    assert "cookie" not in headers
    assert headers["host"] == f"127.0.0.1:{port}"
    assert headers["user-agent"] == USER_AGENT
    assert headers["content-length"] == "0"
    assert (headers["x-forwarded-for"], headers["x-forwarded-port"]) == ("127.0.0.1", port)
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-amzn-trace-id"].startswith("Root=1-")
    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == "localhttp"
    assert context["domainName"] == f"127.0.0.1:{port}"
    assert context["http"] == {
        "method": "GET",
        "path": "/items/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": USER_AGENT,
    }
    assert (context["routeKey"], context["stage"]) == ("GET /items/{id}", "$default")
    assert before <= context["timeEpoch"] <= after
    assert context["time"] == time.strftime(
        "%d/%b/%Y:%H:%M:%S +0000", time.gmtime(context["timeEpoch"] // 1000)
    )


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        ("GET", "/items/special", "GET /items/special", None),
        ("GET", "/items/caf%C3%A9%20au%20lait", "GET /items/{id}", {"id": "caf\u00e9 au lait"}),
        (
            "GET",
            "/rooms/r1/messages/m2",
            "GET /rooms/{room}/messages/{message}",
            {"room": "r1", "message": "m2"},
        ),
        ("PUT", "/files/a/b/c.txt", "ANY /files/{proxy+}", {"proxy": "a/b/c.txt"}),
        ("DELETE", "/files/x", "ANY /files/{proxy+}", {"proxy": "x"}),
        ("POST", "/echo", "POST /echo", None),
        ("PATCH", "/echo", "$default", None),
        ("GET", "/files", "$default", None),
        ("GET", "/nowhere/at/all", "$default", None),
    ],
)
def test_requests_take_the_most_specific_route(
    api: httpx.Client, method: str, path: str, route_key: str, parameters: dict[str, str] | None
) -> None:
    event = echoed(api.request(method, path))
    assert event["routeKey"] == route_key
    assert event["requestContext"]["routeKey"] == route_key
    assert event.get("pathParameters") == parameters
    # HTTP APIs hand the path over URL-decoded.
    assert event["rawPath"] == httpx.URL(path).path
    assert event["requestContext"]["http"]["method"] == method


def test_json_and_text_bodies_arrive_as_text(api: httpx.Client) -> None:
    event = echoed(api.post("/echo", json={"text": "h\u00e9llo"}))
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"text": "h\u00e9llo"}
    event = echoed(api.post("/echo", content=b"plain", headers={"Content-Type": "text/plain"}))
    assert (event["body"], event["isBase64Encoded"]) == ("plain", False)


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "application/x-www-form-urlencoded", None]
)
def test_other_bodies_arrive_base64_encoded(api: httpx.Client, content_type: str | None) -> None:
    data = bytes(range(256)) * 4
    headers = {"Content-Type": content_type} if content_type else {}
    event = echoed(api.post("/echo", content=data, headers=headers))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data
    assert event["headers"]["content-length"] == str(len(data))


def test_a_chunked_body_arrives_whole(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"part": '
        yield b'"one and two"}'

    event = echoed(
        api.post("/echo", content=chunks(), headers={"Content-Type": "application/json"})
    )
    assert json.loads(event["body"]) == {"part": "one and two"}
    assert "transfer-encoding" not in event["headers"]


# ---------------------------------------------------------------- the response


def respond(api: httpx.Client, result: Any) -> httpx.Response:
    return api.post("/respond", json={"result": result})


def test_a_structured_result_sets_status_headers_cookies_and_body(api: httpx.Client) -> None:
    response = respond(
        api,
        {
            "statusCode": 418,
            "headers": {"Content-Type": "text/plain", "X-Answer": "42"},
            "cookies": ["a=1; Path=/", "b=2; HttpOnly"],
            "multiValueHeaders": {"X-Ignored": ["not", "in 2.0"]},
            "body": "short and stout",
        },
    )
    assert response.status_code == 418
    assert response.text == "short and stout"
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["x-answer"] == "42"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]
    assert "x-ignored" not in response.headers


def test_a_base64_result_body_is_sent_as_bytes(api: httpx.Client) -> None:
    data = bytes(range(256))
    response = respond(
        api,
        {
            "statusCode": 200,
            "headers": {"Content-Type": "application/octet-stream"},
            "isBase64Encoded": True,
            "body": base64.b64encode(data).decode(),
        },
    )
    assert response.content == data


@pytest.mark.parametrize(
    ("result", "body"),
    [
        ({"message": "no statusCode"}, b'{"message": "no statusCode"}'),
        ([1, "two"], b'[1, "two"]'),
        (7, b"7"),
        ("Hello from Lambda!", b"Hello from Lambda!"),
    ],
)
def test_any_other_result_is_a_200_json_body(api: httpx.Client, result: Any, body: bytes) -> None:
    response = respond(api, result)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == body


def test_a_head_request_gets_the_head_without_the_body(api: httpx.Client) -> None:
    response = api.head("/items/1")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


# ------------------------------------------------------------------- the errors


def error(response: httpx.Response) -> tuple[int, Any]:
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "teapot"},
        {"statusCode": 200, "headers": {"X-Smuggled": "a\r\nSet-Cookie: evil=1"}},
        {"statusCode": 200, "isBase64Encoded": True, "body": "*not base64*"},
    ],
)
def test_a_result_api_gateway_cannot_use_is_a_500(api: httpx.Client, result: Any) -> None:
    response = respond(api, result)
    assert error(response) == (500, {"message": "Internal Server Error"})
    assert "set-cookie" not in response.headers


def test_a_crash_is_a_500_and_the_function_keeps_serving(api: httpx.Client) -> None:
    assert error(api.get("/crash")) == (500, {"message": "Internal Server Error"})
    assert error(api.get("/crash")) == (500, {"message": "Internal Server Error"})
    assert echoed(api.get("/echo"))["routeKey"] == "GET /echo"


def test_past_the_function_timeout_is_a_500(api: httpx.Client) -> None:
    # SlowFunction's Timeout is 2 s, below the 30 s integration timeout: Lambda stops it
    # first, and a function error is API Gateway's 500.
    started = time.monotonic()
    assert error(api.get("/slow", params={"seconds": "5"})) == (
        500,
        {"message": "Internal Server Error"},
    )
    assert 1.9 <= time.monotonic() - started < 5.0


def test_past_the_integration_timeout_is_a_503(api: httpx.Client) -> None:
    # TimeoutInMillis 2500 on the route, Timeout 10 on the function: API Gateway gives up.
    started = time.monotonic()
    assert error(api.get("/slow-integration", params={"seconds": "5"})) == (
        503,
        {"message": "Service Unavailable"},
    )
    assert 2.4 <= time.monotonic() - started < 5.0
    ok = api.get("/slow-integration", params={"seconds": "0.1"})
    assert (ok.status_code, ok.json()["slept"]) == (200, 0.1)


def raw_request(port: int, head: bytes, body: bytes = b"") -> bytes:
    """Send bytes over a fresh connection; the whole answer, until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_a_body_over_10_mb_is_a_413_before_it_is_read(api: httpx.Client) -> None:
    port = httpx.URL(api.base_url).port
    assert port is not None
    head = (
        f"POST /size HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {MAX_BODY + 1}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    answer = raw_request(port, head, b"x" * 1000)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert b"Connection: close" in rest
    assert rest.endswith(b'\r\n\r\n{"message":"Request Entity Too Large"}')


def test_a_chunked_body_over_10_mb_is_a_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(11):
            yield b"y" * (1024 * 1024)

    try:
        response = api.post("/size", content=chunks())
    except httpx.TransportError:
        pytest.fail("the server should answer 413, not drop the connection")
    assert error(response) == (413, {"message": "Request Entity Too Large"})


def test_a_body_of_exactly_10_mb_is_served(api: httpx.Client) -> None:
    response = api.post(
        "/size", content=b"z" * MAX_BODY, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"length": MAX_BODY, "isBase64Encoded": True}


def test_a_malformed_request_is_a_400(api: httpx.Client) -> None:
    port = httpx.URL(api.base_url).port
    assert port is not None
    answer = raw_request(port, b"NOT-HTTP\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")


# ------------------------------------------------------------ keep-alive, load


def test_keep_alive_serves_many_requests_on_one_connection(api: httpx.Client) -> None:
    port = httpx.URL(api.base_url).port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for index in range(3):
            body = json.dumps({"result": {"statusCode": 200, "body": f"n{index}"}}).encode()
            sock.sendall(
                b"POST /respond HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            status = reader.readline()
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            assert status == b"HTTP/1.1 200 OK\r\n"
            assert headers["connection"] == "keep-alive"
            assert reader.read(int(headers["content-length"])) == f"n{index}".encode()


@async_test(timeout=60)
async def test_a_slow_request_never_holds_up_others(http_gateway: LocalGateway) -> None:
    assert http_gateway.http_api_url is not None
    async with httpx.AsyncClient(base_url=http_gateway.http_api_url, timeout=30) as session:
        slow = asyncio.ensure_future(session.get("/slow-integration", params={"seconds": "2"}))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        fast = await asyncio.gather(*(session.get(f"/items/{n}") for n in range(10)))
        fast_seconds = time.monotonic() - started
        assert [r.json()["event"]["pathParameters"]["id"] for r in fast] == [
            str(n) for n in range(10)
        ]
        assert not slow.done(), "the slow request should still be running"
        assert fast_seconds < 1.5, f"fast requests took {fast_seconds:.2f} s behind a slow one"
        assert (await slow).json()["slept"] == 2.0


@async_test(timeout=60)
async def test_concurrent_requests_to_one_function_run_in_parallel(
    http_gateway: LocalGateway,
) -> None:
    assert http_gateway.http_api_url is not None
    async with httpx.AsyncClient(base_url=http_gateway.http_api_url, timeout=30) as session:
        started = time.monotonic()
        answers = await asyncio.gather(
            *(session.get("/slow-integration", params={"seconds": "1.5"}) for _ in range(2))
        )
        elapsed = time.monotonic() - started
    assert [answer.status_code for answer in answers] == [200, 200]
    # Two processes (--max-processes 2): side by side, not one after the other (3 s).
    assert len({answer.json()["pid"] for answer in answers}) == 2
    assert elapsed < 2.7


# ---------------------------------------------------------------- environments


def test_each_function_sees_its_own_environment(
    http_gateway: LocalGateway, api: httpx.Client
) -> None:
    a = api.get("/env/a", params={"mark": "set-by-a"}).json()
    b = api.get("/env/b").json()
    ws = http_gateway.stage_url
    http = http_gateway.http_api_url
    assert a["env"] == {
        "FLAVOUR": "a",
        "ONLY_A": "1",
        "ONLY_B": None,
        "SHARED": "global",
        "LEAK_CANARY": None,
        "AWS_LAMBDA_FUNCTION_NAME": "EnvAFunction",
        "WEBSOCKET_URL": ws,
        "HTTP_API_URL": http,
    }
    assert b["env"] == {
        "FLAVOUR": "b",
        "ONLY_A": None,
        "ONLY_B": "1",
        "SHARED": "global",
        "LEAK_CANARY": None,
        "AWS_LAMBDA_FUNCTION_NAME": "EnvBFunction",
        "WEBSOCKET_URL": ws,
        "HTTP_API_URL": http,
    }
    assert b["mark"] is None and a["pid"] != b["pid"]
    # A warm process keeps its module globals, as a warm Lambda container does.
    assert api.get("/env/a").json()["mark"] == "set-by-a"


# ---------------------------------------------------------- FastAPI behind Mangum


def test_a_mangum_app_gets_path_query_cookies_and_host(
    http_gateway: LocalGateway, api: httpx.Client
) -> None:
    response = api.get(
        "/api/hello/bob", params={"greeting": "hi"}, headers={"Cookie": "s=1; t=two"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "message": "hi, bob",
        "path": "/api/hello/bob",
        "cookies": {"s": "1", "t": "two"},
        "host": httpx.URL(api.base_url).netloc.decode(),
        "scheme": "http",
    }


def test_a_mangum_app_sets_status_headers_and_every_cookie(api: httpx.Client) -> None:
    response = api.post("/api/items", json={"name": "widget"})
    assert response.status_code == 201
    assert response.json() == {"created": {"name": "widget"}}
    assert response.headers["x-item"] == "created"
    cookies = response.headers.get_list("set-cookie")
    assert [cookie.split(";")[0] for cookie in cookies] == ["last=widget", "count=1"]


def test_a_mangum_app_round_trips_binary_bodies(api: httpx.Client) -> None:
    data = bytes(range(256))
    response = api.put(
        "/api/blob", content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == data[::-1]


def test_a_mangum_app_answers_its_own_404_inside_its_route(api: httpx.Client) -> None:
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}  # FastAPI's, not API Gateway's


# ------------------------------------------------ a named stage, no $default


@pytest.fixture(scope="module")
def staged_gateway(logs_dir: Path) -> Iterator[LocalGateway]:
    with running_gateway(
        STAGED_TEMPLATE, logs_dir / "http-api-stage.stderr", "--max-processes", "1"
    ) as gateway:
        yield gateway


def test_a_named_stage_is_in_the_url_and_the_raw_path(staged_gateway: LocalGateway) -> None:
    base = staged_gateway.http_api_url
    assert base is not None and base.endswith("/v1")
    root = base.removesuffix("/v1")
    with httpx.Client(timeout=30) as session:
        event = echoed(session.get(f"{base}/hello/there"))
        assert event["routeKey"] == "GET /hello/{name}"
        assert event["rawPath"] == "/v1/hello/there"
        assert event["requestContext"]["http"]["path"] == "/v1/hello/there"
        assert event["requestContext"]["stage"] == "v1"
        assert event["pathParameters"] == {"name": "there"}
        # No route (and no `$default`), or outside the stage: API Gateway's 404.
        for address in (f"{base}/nothing", f"{root}/hello/there", f"{base}/hello"):
            assert error(session.get(address)) == (404, {"message": "Not Found"})
        assert error(session.post(f"{base}/hello/there")) == (404, {"message": "Not Found"})


def test_ctrl_c_lets_a_running_request_finish_then_exits_cleanly(logs_dir: Path) -> None:
    gateway = start_gateway(STAGED_TEMPLATE, logs_dir / "http-api-ctrl-c.stderr")
    try:
        base = gateway.http_api_url
        assert base is not None
        with httpx.Client(timeout=30) as idle, httpx.Client(timeout=30) as busy:
            assert idle.get(f"{base}/hello/warm").status_code == 200  # kept alive, now idle
            with ThreadPoolExecutor(1) as pool:
                running = pool.submit(busy.get, f"{base}/slow", params={"seconds": "1"})
                wait_for_stderr(gateway, "slow: sleeping 1.0 s")
                gateway.interrupt()
                response = running.result(timeout=30)
        assert response.status_code == 200
        assert response.json()["slept"] == 1.0
        assert response.headers["connection"] == "close"
    except BaseException:
        gateway.kill()
        raise
    stop_cleanly(gateway)


def wait_for_stderr(gateway: LocalGateway, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in gateway.stderr():
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the gateway's stderr after {timeout} s")
        time.sleep(0.05)


# ------------------------------------------------------------- the real app


SECRET = dev_secret(REPO)


def service_token(name: str) -> str:
    return mint(
        SECRET,
        subject=name,
        name=name,
        roles=[SERVICE_ROLE],
        issuer="switchboard",
        audience="switchboard",
        ttl_seconds=600,
    )


async def next_in_room(ws: ClientConnection, room: str) -> Any:
    """The next frame about `room`: the shared gateway's lobby may carry others' presence."""
    while True:
        frame = await receive_json(ws)
        if frame.get("room") == room:
            return frame


def test_the_real_template_serves_its_http_api(chat_gateway: LocalGateway) -> None:
    assert chat_gateway.http_api_url is not None, chat_gateway.banner
    assert any(
        line.startswith("    GET /health ") and "-> HttpApiFunction" in line
        for line in chat_gateway.banner
    )
    with httpx.Client(base_url=chat_gateway.http_api_url, timeout=30) as session:
        health = session.get("/health")
        assert health.status_code == 200, health.text
        assert health.headers["content-type"].startswith("application/json")
        # No such route in the template, and no `$default`: API Gateway's own 404.
        assert error(session.get("/no/such/route")) == (404, {"message": "Not Found"})


@async_test(timeout=60)
async def test_a_backend_push_over_http_reaches_a_websocket_client(
    chat_gateway: LocalGateway,
) -> None:
    assert chat_gateway.http_api_url is not None
    room = f"push-{uuid.uuid4().hex[:10]}"
    name = f"listener-{uuid.uuid4().hex[:6]}"
    async with client(url(chat_gateway.stage_url, name=name)) as ws:
        await ws.send(json.dumps({"action": "join", "room": room}))
        reply = await next_in_room(ws, room)
        assert reply["type"] == "joined"
        async with httpx.AsyncClient(base_url=chat_gateway.http_api_url, timeout=30) as http:
            response = await http.post(
                f"/rooms/{room}/messages",
                json={"data": {"text": "deploy finished", "build": 42}},
                headers={"Authorization": f"Bearer {service_token('ci-bot')}"},
            )
            assert response.status_code == 200, response.text
            sent = response.json()
            assert (sent["room"], sent["delivered"]) == (room, 1)
            message = await next_in_room(ws, room)
            assert message["type"] == "message"
            assert message["id"] == sent["id"]
            assert message["data"] == {"text": "deploy finished", "build": 42}
            assert message["from"] == {"name": "ci-bot", "userId": "ci-bot", "service": True}
            refused = await http.post(f"/rooms/{room}/messages", json={"data": "no token"})
            assert refused.status_code == 401
