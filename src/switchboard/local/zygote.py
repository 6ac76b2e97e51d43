"""A fork server for function processes: boto3 imported once, each process forked from it.

Starting a Python process and importing boto3 costs about half a second of CPU; forking a
process that has already done so costs a few milliseconds. Each fork then takes on its
function's environment, working directory and handler, exactly as a fresh process would:
nothing of the handler is imported before the fork, so module globals start empty and no
function sees another's environment.

Run as `python -m switchboard.local.zygote SOCKET`. Spawn requests arrive on stdin, one
JSON object per line (`id`, `handler`, `code_dir`, `env`, `unix_sockets`, `cores`). Each child
connects to the gateway's Unix socket, says `{"id", "pid"}`, and then speaks the worker
protocol there. The zygote exits when its stdin closes.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
from typing import Any

# What every function process needs, imported once before any fork.
import boto3  # noqa: F401
import botocore.session
from botocore import awsrequest, parsers, serialize  # noqa: F401

from switchboard.local import worker
from switchboard.local.core_allotment import hold_to, schedule_as_batch


def child(request: dict[str, Any], socket_path: str) -> None:
    """Become the function process (never returns)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        # Before any thread starts: they inherit both.
        hold_to(request.get("cores"))
        schedule_as_batch()
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["code_dir"])
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(socket_path)
        hello = json.dumps({"id": request["id"], "pid": os.getpid()}).encode() + b"\n"
        connection.sendall(hello)
        # Prints and logs of the handler go to stderr, never into the protocol.
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        worker.serve(
            request["handler"],
            request["code_dir"],
            connection.makefile("rb"),
            connection.makefile("wb"),
            request.get("unix_sockets"),
        )
    except BaseException:
        import traceback  # noqa: PLC0415

        traceback.print_exc()
    finally:
        os._exit(0)


#: The services the functions of a chat stack call; their models are parsed before forking.
PRELOADED_SERVICES = ("dynamodb", "apigatewaymanagementapi", "secretsmanager")


def preload_service_models() -> Any:
    """A botocore data loader that has read what creating these clients reads."""
    session = botocore.session.Session()
    for service in PRELOADED_SERVICES:
        session.create_client(
            service,
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            # No call is made: a client needs some credentials to be built at all.
            aws_access_key_id="preload",
            aws_secret_access_key="preload",  # noqa: S106 - not a secret
        )
    return session.get_component("data_loader")


def main() -> None:
    socket_path = sys.argv[1]
    worker.warm_loader = preload_service_models()
    # Move everything loaded so far out of the collector's reach: a full collection in a
    # child would otherwise write to every object's header and copy each page it shares
    # with the zygote (about 10 MB a process, some minutes into a run).
    gc.freeze()
    # Children are reaped automatically; the gateway watches them through their sockets.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the gateway's to handle
    print("READY", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if os.fork() == 0:
            child(request, socket_path)


if __name__ == "__main__":
    main()
