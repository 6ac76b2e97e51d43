"""`switchboard`: the command line (`local`, `invoke`, `token`)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import NoReturn
from urllib.parse import urlsplit

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a refusal is one line naming the command and the flag, and exit 2.

    argparse's own refusal is the usage block and `switchboard local: error: argument
    --port: ...`; the commands' other refusals are one line, and scripts read them as such.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message.removeprefix('argument ')}\n")


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan  # refused below, with the rule the flag follows


def _seconds(text: str) -> float:
    """A timeout: 0 or less would close every client as soon as it connects, nan never."""
    value = _float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def _milliseconds(text: str) -> float:
    value = _float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f"must be a finite number of milliseconds >= 0, got {text!r}"
        )
    return value


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


#: Warm processes per function at most: each is a Python with boto3 (~17 MB), and a
#: laptop's cores are long busy before this many can run at once.
MAX_PROCESSES = 64


def _process_count(text: str) -> int:
    """At least one (with none, every call would wait for a process forever), at most
    MAX_PROCESSES (thousands would exhaust memory before serving anyone)."""
    value = _whole_number(text)
    if not 1 <= value <= MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"must be 1-{MAX_PROCESSES}, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _whole_number(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0-65535, got {text!r}")
    return value


def _http_url(text: str) -> str:
    """An endpoint boto3 takes: http(s), a valid host (IPv6 in brackets), a valid port."""
    # Imported here: botocore is heavy, and only these flags need it.
    from botocore.utils import (  # noqa: PLC0415
        is_valid_endpoint_url,
        is_valid_ipv6_endpoint_url,
    )

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - reading it raises ValueError when it is out of range
    except ValueError:
        valid = False
    else:
        valid = parts.scheme in ("http", "https") and bool(
            is_valid_endpoint_url(text) or is_valid_ipv6_endpoint_url(text)
        )
    if not valid:
        raise argparse.ArgumentTypeError(f"must be an http(s) URL, got {text!r}")
    return text


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"takes Name=Value, got {text!r}")
    return name, value


def _add_template_arguments(command: argparse.ArgumentParser) -> None:
    """The template to read and its parameters: every command reads one."""
    command.add_argument(
        "--template", "-t", default="template.yaml", help="SAM template (default template.yaml)"
    )
    command.add_argument(
        "--parameter-overrides",
        nargs="*",
        type=_parameter,
        default=[],
        metavar="NAME=VALUE",
        help="template parameters, as `sam deploy` takes them",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="switchboard",
        description="Real-time WebSocket messaging on API Gateway, Lambda and DynamoDB, "
        "run locally.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser(
        "local",
        help="serve template.yaml's WebSocket and HTTP APIs with an embedded DynamoDB",
        description="Serve the template's WebSocket and @connections APIs on one port and "
        "its HTTP API on another, each route running its function's handler with its own "
        "environment.",
    )
    local.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    local.add_argument(
        "--port", type=_port, default=3001, help="WebSocket and @connections port (default 3001)"
    )
    local.add_argument(
        "--http-port",
        type=_port,
        default=3000,
        help="the template's HTTP API (HttpApi events), if it has one (default 3000)",
    )
    _add_template_arguments(local)
    local.add_argument("--stage", help="stage name to serve (default: the template's)")
    local.add_argument(
        "--dynamodb-endpoint",
        type=_http_url,
        help="use this DynamoDB (DynamoDB Local, AWS) instead of the embedded one",
    )
    local.add_argument(
        "--idle-timeout", type=_seconds, default=600.0, help="seconds (default 600, as AWS)"
    )
    local.add_argument(
        "--max-duration", type=_seconds, default=7200.0, help="seconds (default 7200, as AWS)"
    )
    local.add_argument(
        "--management-latency-ms",
        type=_milliseconds,
        default=0.0,
        help="simulated @connections latency (default 0)",
    )
    local.add_argument("--integration-timeout", type=_seconds, default=29.0, help=argparse.SUPPRESS)
    local.add_argument(
        "--max-processes",
        type=_process_count,
        default=8,
        help="warm processes per function (default 8)",
    )
    local.add_argument(
        "--no-core-pinning",
        action="store_true",
        help="let function processes run on any core (default: each is held to as many "
        "whole cores as Lambda's CPU share for its MemorySize, one up to 1,769 MB)",
    )
    local.add_argument(
        "--log-level",
        default="INFO",
        choices=LOG_LEVELS,
        help="the gateway's log level (default INFO); functions log their own",
    )
    local.add_argument(
        "--inject-fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="inject a fault, for tests (repeatable; also SWITCHBOARD_LOCAL_FAULTS): "
        "dynamodb.throttle, dynamodb.error, dynamodb.lost_reply, dynamodb.fail_matching, "
        "connections.gone, connections.throttle, gateway.skip_disconnect, seed",
    )

    invoke = commands.add_parser(
        "invoke",
        help="run one function of the template with an event (a Docker-free `sam local invoke`)",
    )
    invoke.add_argument("function", help="logical id of the function in the template")
    invoke.add_argument("--event", "-e", required=True, help="event JSON file ('-' for stdin)")
    _add_template_arguments(invoke)
    invoke.add_argument(
        "--dynamodb-endpoint",
        type=_http_url,
        help="use this DynamoDB instead of an embedded one",
    )
    invoke.add_argument(
        "--management-endpoint",
        type=_http_url,
        help="@connections endpoint for the function (default: a local one with no clients)",
    )
    invoke.add_argument(
        "--log-level",
        default="WARNING",
        choices=LOG_LEVELS,
        help="log level of the invoke machinery (default WARNING); the function logs its own",
    )

    token = commands.add_parser(
        "token",
        help="mint a development token signed with the local secret",
        description="Print a JWT that `switchboard local` accepts: HS256, signed with the "
        "checkout's local secret (.switchboard/token-secret), with the template's issuer "
        "and audience. Never valid against a deployed stack.",
    )
    token.add_argument("name", help="display name (and user id unless --user-id)")
    token.add_argument("--user-id", help="the sub claim (default: the name)")
    token.add_argument(
        "--room", action="append", default=[], help="a private room to grant (repeatable)"
    )
    token.add_argument(
        "--service",
        action="store_true",
        help='add the "service" role: a backend\'s token for the HTTP API',
    )
    token.add_argument("--ttl", default="1h", help="lifetime: 3600, 30m, 1h, 7d (default 1h)")
    _add_template_arguments(token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(build_parser().parse_args(argv))
    except KeyboardInterrupt:
        # Ctrl-C before the command installs its own handler (while it imports boto3 and
        # moto, say): the user asked to stop, and a traceback would say something broke.
        return 130


def _run(args: argparse.Namespace) -> int:
    # Later overrides win, as `sam deploy` takes them.
    parameters = dict(args.parameter_overrides)
    if args.command == "local":
        # Imported here so `switchboard --help` does not load the gateway and moto.
        from switchboard.local.commands import run_local  # noqa: PLC0415

        return run_local(args, parameters)
    if args.command == "invoke":
        from switchboard.local.commands import run_invoke  # noqa: PLC0415

        return run_invoke(args, parameters)
    if args.command == "token":
        from switchboard.local.commands import run_token  # noqa: PLC0415

        return run_token(args, parameters)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
