"""`switchboard local` and `switchboard invoke`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from switchboard.local.app import ListenError, LocalSettings, LocalStack, function_environment
from switchboard.local.dev_secret import dev_secret
from switchboard.local.dynamodb import (
    EmbeddedDynamoDB,
    create_secrets,
    create_tables,
    dynamodb_client,
)
from switchboard.local.faults import ENVIRONMENT_VARIABLE, FaultPlan, FaultSpecError
from switchboard.local.functions import FunctionPool, Spawner
from switchboard.local.gateway import Gateway, GatewayOptions
from switchboard.local.template_intrinsics import TemplateError
from switchboard.local.template_model import read_template

log = logging.getLogger("switchboard.local")


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The websockets library logs every open and close at INFO: too chatty for a dev server.
    logging.getLogger("websockets").setLevel(max(logging.WARNING, getattr(logging, level)))
    # At DEBUG, botocore and urllib3 log whole requests: the token secret the gateway puts in
    # its Secrets Manager, and (under `invoke`) items and message bodies. Never log those.
    for chatty in ("botocore", "boto3", "urllib3"):
        logging.getLogger(chatty).setLevel(max(logging.INFO, getattr(logging, level)))


def _template_refusal(template: str) -> str | None:
    """Why the template cannot be read, or None: asked before anything starts."""
    try:
        with Path(template).open("rb"):
            return None
    except OSError as error:
        return f"cannot read the template {template}: {_reason(error)}"


def _reason(error: BaseException) -> str:
    """The root cause of `error`, as `connection refused`: botocore and urllib3 wrap the
    socket's error in messages that repeat the URL."""
    cause = error
    while (inner := cause.__cause__ or cause.__context__) is not None:
        cause = inner
    text = (cause.strerror if isinstance(cause, OSError) else None) or str(cause) or str(error)
    return text[:1].lower() + text[1:]


def _dynamodb_refusal(endpoint: str) -> str | None:
    """Why DynamoDB at `endpoint` cannot be reached, or None: asked once, before anything
    starts, rather than failing half-way through with the embedded one already running."""
    # The local credentials: any signature will do, a refused one is an answer too.
    client = dynamodb_client(
        endpoint,
        config=BotoConfig(connect_timeout=5, read_timeout=15, retries={"total_max_attempts": 1}),
    )
    try:
        client.list_tables(Limit=1)
    except ClientError:
        return None
    except BotoCoreError as error:
        return f"cannot reach DynamoDB at {endpoint}: {_reason(error)}"
    return None


def _refuse(command: str, message: str, code: int) -> int:
    print(f"switchboard {command}: {message}", file=sys.stderr)
    return code


def _refused_before_start(command: str, args: argparse.Namespace) -> int | None:
    """The exit code of a template or DynamoDB that cannot serve, or None: checked before
    anything starts, so a refusal leaves nothing to stop."""
    if (refusal := _template_refusal(args.template)) is not None:
        return _refuse(command, refusal, 2)
    if args.dynamodb_endpoint is not None and (
        refusal := _dynamodb_refusal(args.dynamodb_endpoint)
    ):
        return _refuse(command, refusal, 1)
    return None


def run_local(args: argparse.Namespace, parameters: dict[str, str]) -> int:
    _configure_logging(args.log_level)
    try:
        faults = FaultPlan.from_sources(args.inject_fault, os.environ.get(ENVIRONMENT_VARIABLE))
    except FaultSpecError as error:
        return _refuse("local", f"--inject-fault: {error}", 2)
    if (code := _refused_before_start("local", args)) is not None:
        return code
    settings = LocalSettings(
        template=Path(args.template),
        stage=args.stage,
        parameters=parameters,
        dynamodb_endpoint=args.dynamodb_endpoint,
        gateway=GatewayOptions(
            host=args.host,
            port=args.port,
            idle_timeout=args.idle_timeout,
            max_duration=args.max_duration,
            management_latency_ms=args.management_latency_ms,
            integration_timeout=args.integration_timeout,
            max_processes=args.max_processes,
            faults=faults,
        ),
        http_port=args.http_port,
        pin_cores=not args.no_core_pinning,
    )
    try:
        return asyncio.run(_serve(settings))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    except TemplateError as error:
        return _refuse("local", str(error), 2)
    # Before OSError: some BotoCoreErrors are OSErrors too, and their own text says more.
    except (ListenError, BotoCoreError, ClientError) as error:
        return _refuse("local", str(error), 1)
    except OSError as error:
        return _refuse("local", _os_error(error), 1)


def _os_error(error: OSError) -> str:
    if error.filename is not None:
        return f"{error.filename}: {_reason(error)}"
    return _reason(error)


async def _serve(settings: LocalSettings) -> int:
    stack = LocalStack(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
        print(stack.banner(), flush=True)
        await stop.wait()
        print(
            "\nShutting down: closing connections and running $disconnect...",
            file=sys.stderr,
            flush=True,
        )
    finally:
        await stack.stop()
    return 0


def run_invoke(args: argparse.Namespace, parameters: dict[str, str]) -> int:
    _configure_logging(args.log_level)
    try:
        raw = (
            sys.stdin.read() if args.event == "-" else Path(args.event).read_text(encoding="utf-8")
        )
        event = json.loads(raw)
    except (OSError, ValueError) as error:
        return _refuse("invoke", f"cannot read the event: {error}", 2)
    if not isinstance(event, dict):
        # Lambda would hand it over, but API Gateway's events are objects, and so is what
        # every handler here reads.
        return _refuse("invoke", f"the event must be a JSON object, got {_json_kind(event)}", 2)
    if (code := _refused_before_start("invoke", args)) is not None:
        return code
    try:
        ok, result = asyncio.run(_invoke(args, parameters, event))
    except TemplateError as error:
        return _refuse("invoke", str(error), 2)
    except (BotoCoreError, ClientError) as error:
        return _refuse("invoke", str(error), 1)
    except OSError as error:
        return _refuse("invoke", _os_error(error), 1)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if ok else 1


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"


async def _invoke(
    args: argparse.Namespace, parameters: dict[str, str], event: dict[str, Any]
) -> tuple[bool, Any]:
    # Read before anything starts: a template error leaves nothing to stop.
    model = read_template(args.template, parameters=parameters)
    function = model.function(args.function)
    embedded = EmbeddedDynamoDB()
    aws_endpoint = await embedded.start()
    endpoint = args.dynamodb_endpoint or aws_endpoint
    gateway: Gateway | None = None
    pool: FunctionPool | None = None
    spawner = Spawner()
    try:
        management = args.management_endpoint
        if management is None:
            # A real @connections endpoint with no clients: posts answer 410, as for stale ids.
            gateway = Gateway(model, {}, GatewayOptions(port=0))
            await gateway.start()
            management = f"http://127.0.0.1:{gateway.port}/{model.stage}"
        await asyncio.to_thread(create_tables, dynamodb_client(endpoint), model.tables)
        secret = dev_secret(Path(args.template).resolve().parent)
        await asyncio.to_thread(create_secrets, aws_endpoint, model.secrets, secret)
        env = function_environment(
            function,
            dynamodb_endpoint=endpoint,
            management_endpoint=management,
            aws_endpoint=aws_endpoint,
            embedded=args.dynamodb_endpoint is None,
        )
        if args.management_endpoint is None or "MANAGEMENT_ENDPOINT" in env:
            env["MANAGEMENT_ENDPOINT"] = management
        await spawner.start()
        pool = FunctionPool(function, env, 1, spawner)
        context = event.get("requestContext")
        request_id = str(
            context.get("requestId", "local-invoke")
            if isinstance(context, dict)
            else "local-invoke"
        )
        invocation = await pool.invoke(event, request_id, float(function.timeout))
        if invocation.timed_out:
            return False, {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"timed out after {function.timeout} s",
            }
        if not invocation.ok:
            return False, invocation.error
        return True, invocation.result
    finally:
        if pool is not None:
            await pool.stop()
        await spawner.stop()
        if gateway is not None:
            await gateway.stop()
        await embedded.stop()


_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """`3600`, `90s`, `30m`, `1h`, `7d` as seconds."""
    text = text.strip().lower()
    unit = _TTL_UNITS.get(text[-1:], 1) if text else 1
    number = text[:-1] if text[-1:] in _TTL_UNITS else text
    try:
        seconds = int(number) * unit
    except ValueError:
        raise ValueError(f"--ttl takes seconds or 30m, 1h, 7d; got {text!r}") from None
    if not 1 <= seconds <= 30 * 86400:
        raise ValueError("--ttl must be between 1 second and 30 days")
    return seconds


def run_token(args: argparse.Namespace, parameters: dict[str, str]) -> int:
    """Print a development token signed with the local secret, as the template expects it."""
    from switchboard.errors import BadRequest  # noqa: PLC0415
    from switchboard.protocol import validate_name, validate_room  # noqa: PLC0415
    from switchboard.tokens import (  # noqa: PLC0415
        SERVICE_ROLE,
        InvalidToken,
        mint,
        validate_subject,
    )

    if (refusal := _template_refusal(args.template)) is not None:
        return _refuse("token", refusal, 2)
    try:
        model = read_template(args.template, parameters=parameters)
        name = validate_name(args.name)
        rooms = [validate_room(room) for room in args.room]
        ttl = parse_ttl(args.ttl)
    except (TemplateError, ValueError, BadRequest) as error:
        return _refuse("token", str(error), 2)
    # The verifier's own rule for `sub`: a token it would refuse is not worth printing.
    try:
        subject = validate_subject(name if args.user_id is None else args.user_id)
    except InvalidToken as error:
        source = "NAME (the user id without --user-id)" if args.user_id is None else "--user-id"
        return _refuse("token", f"{source}: {error}", 2)
    secret = dev_secret(Path(args.template).resolve().parent)
    print(
        mint(
            secret,
            subject=subject,
            name=name,
            rooms=rooms,
            roles=[SERVICE_ROLE] if args.service else [],
            issuer=model.parameters.get("TokenIssuer", "switchboard"),
            audience=model.parameters.get("TokenAudience", "switchboard"),
            ttl_seconds=ttl,
        )
    )
    return 0
