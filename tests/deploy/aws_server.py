"""moto's server with the rehearsal's CloudFormation fixes, in a process of its own.

Run as `python -m tests.deploy.aws_server --sam-python .venv-sam/bin/python`; prints
`READY <port>` once it listens on 127.0.0.1 and serves until its standard input closes,
so it never outlives the test session that started it. Every AWS service moto has is
served on the one port (`AWS_ENDPOINT_URL`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sam-python", type=Path, required=True)
    arguments = parser.parse_args()
    # Roles made by the stack get AWS managed policies (AWSLambdaBasicExecutionRole): moto
    # knows them only when asked to load them, before its IAM backend starts.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    from moto.server import ThreadedMotoServer
    from tests.deploy import moto_cloudformation

    moto_cloudformation.apply(arguments.sam_python)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(f"READY {port}", flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
