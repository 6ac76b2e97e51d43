"""The whole local stack: embedded DynamoDB, the template's tables, function pools, gateway."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from switchboard.local.cfn_yaml import load_template
from switchboard.local.core_allotment import CoreAllotment, available_cores
from switchboard.local.dev_secret import dev_secret
from switchboard.local.dynamodb import (
    LOCAL_CREDENTIALS,
    EmbeddedDynamoDB,
    create_secrets,
    create_tables,
    dynamodb_client,
)
from switchboard.local.functions import FunctionPool, Spawner
from switchboard.local.gateway import Gateway, GatewayOptions
from switchboard.local.http_api_server import HttpApiServer
from switchboard.local.template_intrinsics import REGION
from switchboard.local.template_model import (
    FunctionModel,
    TemplateModel,
    has_http_api_events,
    read_template,
)

log = logging.getLogger("switchboard.local")

_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYTHONPATH")
_AWS_CREDENTIALS = (
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)


@dataclass
class LocalSettings:
    template: Path = Path("template.yaml")
    stage: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    dynamodb_endpoint: str | None = None
    gateway: GatewayOptions = field(default_factory=GatewayOptions)
    warm: bool = True
    #: The HTTP API's port (on the gateway's host), when the template has HttpApi events.
    http_port: int = 3000
    #: Hold each function process to as many cores as Lambda's CPU share for its memory,
    #: rounded up (see core_allotment).
    pin_cores: bool = True


def function_environment(
    model: FunctionModel,
    *,
    dynamodb_endpoint: str,
    management_endpoint: str,
    aws_endpoint: str,
    embedded: bool,
    parent: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What Lambda would give the function, with endpoints pointing at the local stack."""
    parent = os.environ if parent is None else parent
    env = {name: parent[name] for name in _PASSED_THROUGH if name in parent}
    if embedded or not _credentials_configured(parent):
        # Another local DynamoDB (DynamoDB Local, a second moto) takes any credentials, and
        # boto3 refuses to sign without some: with none configured, the local ones.
        env.update(LOCAL_CREDENTIALS)
    else:
        env.update({name: parent[name] for name in _AWS_CREDENTIALS if name in parent})
    env.update(
        {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_LAMBDA_FUNCTION_NAME": model.logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(model.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": model.log_group,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{model.runtime}",
            "LAMBDA_TASK_ROOT": str(model.code_dir),
            "AWS_ENDPOINT_URL": aws_endpoint,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": management_endpoint,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(model.environment)
    return env


def _credentials_configured(parent: Mapping[str, str]) -> bool:
    """Whether boto3 in a function would find credentials of the user's own: variables, or
    the shared files under HOME."""
    if any(name in parent for name in _AWS_CREDENTIALS):
        return True
    home = parent.get("HOME")
    return home is not None and any(
        (Path(home) / ".aws" / name).is_file() for name in ("credentials", "config")
    )


class LocalStack:
    """Starts and stops everything `switchboard local` serves."""

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.dynamodb: EmbeddedDynamoDB | None = None
        self.dynamodb_endpoint = settings.dynamodb_endpoint or ""
        self.model: TemplateModel | None = None
        self.gateway: Gateway | None = None
        self.http_api: HttpApiServer | None = None
        self.pools: dict[str, FunctionPool] = {}
        self.created_tables: list[str] = []
        self.spawner = Spawner(CoreAllotment(available_cores() if settings.pin_cores else None))
        self.aws_endpoint = ""
        self.anonymous_by_default = False

    @property
    def embedded(self) -> bool:
        return self.settings.dynamodb_endpoint is None

    async def start(self) -> None:
        options = self.settings.gateway
        await self.spawner.start()
        # moto's server stands in for every AWS service the functions call (Secrets Manager,
        # ...); DynamoDB is it too, unless --dynamodb-endpoint names another.
        # On loopback whatever --host says: it holds the table and the token secret, and
        # only this machine's function processes call it.
        self.dynamodb = EmbeddedDynamoDB("127.0.0.1", options.faults)
        self.aws_endpoint = await self.dynamodb.start()
        if self.embedded:
            self.dynamodb_endpoint = self.aws_endpoint
        parameters = dict(self.settings.parameters)
        document = load_template(self.settings.template)
        declared = document.get("Parameters") or {}
        if "AllowAnonymous" in declared and "AllowAnonymous" not in parameters:
            # Locally, guests may connect without a token unless the user says otherwise.
            parameters["AllowAnonymous"] = "true"
            self.anonymous_by_default = True
        # The port may be 0 (any free port): bind first so the template can name the real URL.
        listener = bind_listener(options.host, options.port)
        port = listener.getsockname()[1]
        base_url = f"http://{_connect_host(options.host)}:{port}"
        # The HTTP API's port only where the template has one: 3000 is a busy port.
        http_listener = (
            bind_listener(options.host, self.settings.http_port, "--http-port")
            if has_http_api_events(document)
            else None
        )
        http_url = (
            f"http://{_connect_host(options.host)}:{http_listener.getsockname()[1]}"
            if http_listener is not None
            else f"http://{_connect_host(options.host)}:{self.settings.http_port}"
        )
        model = read_template(
            self.settings.template,
            parameters=parameters,
            gateway_url=base_url,
            stage=self.settings.stage,
            http_api_url=http_url,
        )
        self.model = model
        if http_listener is not None and model.http_api is None:
            http_listener.close()  # its events are all on functions whose Condition is false
            http_listener = None
        await asyncio.to_thread(
            create_secrets,
            self.aws_endpoint,
            model.secrets,
            dev_secret(Path(self.settings.template).resolve().parent),
        )
        credentials = (
            None
            if self.embedded
            else {k: v for k, v in os.environ.items() if k in _AWS_CREDENTIALS}
        )
        client = dynamodb_client(self.dynamodb_endpoint, credentials)
        self.created_tables = await asyncio.to_thread(create_tables, client, model.tables)
        management = f"{base_url}/{model.stage}"
        websocket_functions = {route.function for route in model.routes.values()} | {
            authorizer.function for authorizer in model.authorizers.values()
        }
        used = set(websocket_functions)
        if model.http_api is not None:
            used |= {route.function for route in model.http_api.routes.values()}
        self.pools = {
            name: FunctionPool(
                model.function(name),
                function_environment(
                    model.function(name),
                    dynamodb_endpoint=self.dynamodb_endpoint,
                    management_endpoint=management,
                    aws_endpoint=self.aws_endpoint,
                    embedded=self.embedded,
                ),
                options.max_processes,
                self.spawner,
            )
            for name in sorted(used)
        }
        self.gateway = Gateway(model, self.pools, options)
        # The functions' @connections calls take a Unix socket to the same gateway.
        unix_socket = self.spawner.socket_path("gateway.sock")
        self.spawner.unix_sockets[base_url] = unix_socket
        await self.gateway.start(listener, unix_socket)
        if model.http_api is not None and http_listener is not None:
            self.http_api = HttpApiServer(model.http_api, model.functions, self.pools)
            await self.http_api.start(http_listener)
            unchecked = sorted(k for k, r in model.http_api.routes.items() if r.authorized)
            if unchecked:
                log.warning(
                    "HTTP API authorizers are not run locally; these routes are open: %s",
                    ", ".join(unchecked),
                )
        if self.settings.warm:
            # Forks of the zygote are cheap: start half of each pool, so a first burst of
            # connects does not wait for processes to import their handlers. A function of
            # the HTTP API alone starts one: no burst of connects waits on it, and a web
            # framework makes its processes heavy.
            await asyncio.gather(
                *(
                    pool.warm(
                        max(1, options.max_processes // 2) if name in websocket_functions else 1
                    )
                    for name, pool in self.pools.items()
                )
            )

    async def stop(self) -> None:
        await asyncio.gather(
            *(server.stop() for server in (self.gateway, self.http_api) if server is not None)
        )
        await asyncio.gather(*(pool.stop() for pool in self.pools.values()))
        await self.spawner.stop()
        if self.dynamodb is not None:
            with contextlib.suppress(Exception):
                await self.dynamodb.stop()

    def banner(self) -> str:
        assert self.model is not None and self.gateway is not None
        model = self.model
        host = _connect_host(self.settings.gateway.host)
        port = self.gateway.port
        ws = f"ws://{host}:{port}"
        width = max(len(key) for key in model.routes) if model.routes else 8
        routes = "\n".join(
            f"    {key:<{width}}  -> {route.function} ({model.function(route.function).handler})"
            + ("  [authorizer]" if route.authorizer else "")
            + ("  [reply]" if route.has_route_response else "")
            for key, route in sorted(model.routes.items())
        )
        tables = ", ".join(table.name for table in model.tables.values()) or "none"
        auth = ""
        if model.authorizers:
            anonymous = model.parameters.get("AllowAnonymous") == "true"
            auth = (
                "  Auth          tokens from `switchboard token NAME [--room R]`, as ?token= or "
                "Authorization: Bearer\n"
                + (
                    "                anonymous guests ALLOWED (AllowAnonymous=true"
                    + (" by default locally" if self.anonymous_by_default else "")
                    + "; --parameter-overrides AllowAnonymous=false to require tokens)\n"
                    if anonymous
                    else "                anonymous guests refused (AllowAnonymous=false)\n"
                )
            )
        http_api, http_routes = self._http_api_banner()
        plan = self.settings.gateway.faults
        faults = f"  Faults        INJECTED: {plan.spec()}\n" if plan.active else ""
        exposure = exposure_warning(self.settings.gateway.host)
        dynamodb = (
            f"{self.dynamodb_endpoint} (embedded moto server)"
            if self.embedded
            else f"{self.dynamodb_endpoint} (external)"
        )
        return (
            f"Switchboard local gateway serving {model.path}\n"
            f"{exposure}"
            f"  WebSocket     {ws}  (also {ws}/{model.stage})\n"
            f"  @connections  http://{host}:{port}/{model.stage}/@connections/{{connectionId}}"
            f"  (also without /{model.stage})\n"
            f"{http_api}"
            f"  DynamoDB      {dynamodb}; tables: {tables}\n"
            f"{auth}"
            f"{faults}"
            f"  Routes ({model.route_selection_expression}):\n{routes}\n"
            f"{http_routes}"
            f"  Connect:\n"
            f"    wscat -c '{ws}/{model.stage}?name=alice'\n"
            f'    > {{"action": "sendmessage", "data": "hello"}}\n'
            f"  Or from Python:\n"
            f"    import asyncio, websockets\n"
            f"    async def main():\n"
            f"        async with websockets.connect('{ws}/{model.stage}?name=bob') as ws:\n"
            f'            await ws.send(\'{{"action": "sendmessage", "data": "hi"}}\')\n'
            f"            print(await ws.recv())\n"
            f"    asyncio.run(main())\n"
            f"  Press Ctrl-C to stop."
        )

    def _http_api_banner(self) -> tuple[str, str]:
        """The HTTP API's line and its routes, for the banner; empty without one."""
        assert self.model is not None
        api, server = self.model.http_api, self.http_api
        if api is None or server is None:
            return "", ""
        url = f"http://{_connect_host(self.settings.gateway.host)}:{server.port}"
        if api.stage != "$default":
            url += f"/{api.stage}"
        width = max(len(key) for key in api.routes)
        routes = "\n".join(
            f"    {key:<{width}}  -> {route.function} "
            f"({self.model.function(route.function).handler})"
            + ("  [authorizer not run locally]" if route.authorized else "")
            for key, route in sorted(api.routes.items())
        )
        return (
            f"  HTTP API      {url}  (payload 2.0, through each route's function)\n",
            f"  HTTP API routes:\n{routes}\n",
        )


def exposure_warning(host: str) -> str:
    """The banner's warning when the gateway listens beyond this machine; empty otherwise."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return ""
    return (
        f"  WARNING       listening on {host}: other machines can reach the WebSocket API, the\n"
        "                HTTP API and the @connections API, which takes no credentials (anyone\n"
        "                can post to or close any client). The embedded DynamoDB stays on\n"
        "                loopback.\n"
    )


def _connect_host(host: str) -> str:
    """Where a client on this machine reaches a server listening on `host`, as a URL's host:
    an IPv6 address in brackets (`http://::1:3001` is no URL; boto3 refuses it)."""
    if host in ("0.0.0.0", ""):  # noqa: S104 - a comparison
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return _bracketed(host)


def _bracketed(host: str) -> str:
    """A host as it stands before `:port`: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


class ListenError(OSError):
    """A listener could not be bound; the message names the address and the flag to change."""


def bind_listener(host: str, port: int, flag: str = "--port") -> socket.socket:
    """A listening socket on `host`:`port`, which the command line's `flag` chose."""
    try:
        listener = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM
        )
    except OSError as error:  # no IPv6 on this machine
        raise _listen_error(host, port, "--host", error) from error
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        # A name that does not resolve, or an address this machine does not have: the host
        # is what to change; a busy or privileged port: the port.
        wrong_host = isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL
        raise _listen_error(host, port, "--host" if wrong_host else flag, error) from error
    listener.listen(1024)
    listener.setblocking(False)
    return listener


def _listen_error(host: str, port: int, flag: str, error: OSError) -> ListenError:
    reason = error.strerror or str(error)
    address = f"{_bracketed(host)}:{port}"
    refusal = ListenError(f"cannot listen on {address} ({flag}): {reason[:1].lower()}{reason[1:]}")
    refusal.errno = error.errno
    return refusal
