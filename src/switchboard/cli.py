"""`switchboard`: the command line (`local`, `invoke`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parameters(values: Sequence[str]) -> dict[str, str]:
    parameters = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name:
            raise SystemExit(f"--parameter-overrides takes Name=Value, got {value!r}")
        parameters[name] = setting
    return parameters


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
        "--port", type=int, default=3001, help="WebSocket and @connections port (default 3001)"
    )
    local.add_argument(
        "--http-port",
        type=int,
        default=3000,
        help="the template's HTTP API (HttpApi events), if it has one (default 3000)",
    )
    local.add_argument(
        "--template", "-t", default="template.yaml", help="SAM template (default template.yaml)"
    )
    local.add_argument("--stage", help="stage name to serve (default: the template's)")
    local.add_argument("--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE")
    local.add_argument(
        "--dynamodb-endpoint",
        help="use this DynamoDB (DynamoDB Local, AWS) instead of the embedded one",
    )
    local.add_argument(
        "--idle-timeout", type=float, default=600.0, help="seconds (default 600, as AWS)"
    )
    local.add_argument(
        "--max-duration", type=float, default=7200.0, help="seconds (default 7200, as AWS)"
    )
    local.add_argument(
        "--management-latency-ms", type=float, default=0.0, help="simulated @connections latency"
    )
    local.add_argument("--integration-timeout", type=float, default=29.0, help=argparse.SUPPRESS)
    local.add_argument(
        "--max-processes", type=int, default=8, help="warm processes per function (default 8)"
    )
    local.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
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
    invoke.add_argument("--template", "-t", default="template.yaml")
    invoke.add_argument("--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE")
    invoke.add_argument("--dynamodb-endpoint", help="use this DynamoDB instead of an embedded one")
    invoke.add_argument(
        "--management-endpoint",
        help="@connections endpoint for the function (default: a local one with no clients)",
    )
    invoke.add_argument(
        "--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
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
    token.add_argument("--template", "-t", default="template.yaml")
    token.add_argument("--parameter-overrides", nargs="*", default=[], metavar="NAME=VALUE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "local":
        # Imported here so `switchboard --help` does not load the gateway and moto.
        from switchboard.local.commands import run_local  # noqa: PLC0415

        return run_local(args, _parameters(args.parameter_overrides))
    if args.command == "invoke":
        from switchboard.local.commands import run_invoke  # noqa: PLC0415

        return run_invoke(args, _parameters(args.parameter_overrides))
    if args.command == "token":
        from switchboard.local.commands import run_token  # noqa: PLC0415

        return run_token(args, _parameters(args.parameter_overrides))
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
