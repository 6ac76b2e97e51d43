"""One `sam build` of template.yaml per session (and one for this machine's architecture),
the Lambda runtime's boto3, and moto's server with the rehearsal's CloudFormation fixes.

Builds go to a temporary directory, never to the checkout's .aws-sam/build; only the
runtime's boto3 is cached across sessions (.aws-sam/offline), keyed on its version.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.deploy.lambda_packages import (
    HOST_ARCHITECTURE,
    ROOT,
    TEMPLATE,
    BuiltStack,
    PackageSize,
    host_template,
    lambda_runtime_dir,
    runtime_python,
    sam_build,
)
from tests.deploy.lambda_sandbox import REGION, Sandbox

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
_SIZES_KEY = pytest.StashKey[dict[str, PackageSize]]()


@dataclass(frozen=True)
class AwsServer:
    """moto's server on 127.0.0.1: every service on one endpoint."""

    endpoint: str
    log: Path

    def client(self, service: str) -> Any:
        make: Any = boto3.client  # any service by name; the stubs' overloads want literals
        return make(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="session")
def lambda_python() -> Path:
    return runtime_python("python3.13")


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuiltStack, BuiltStack]:
    """template.yaml built as it is deployed (arm64), and for this machine's architecture.

    Both at once: most of a build is waiting for pip, so two overlap well.
    """
    directory = tmp_path_factory.mktemp("sam")
    host = directory / "host"
    with ThreadPoolExecutor(max_workers=2) as pool:
        deployed = pool.submit(sam_build, TEMPLATE, directory / "build")
        for_host = pool.submit(
            sam_build, host_template(TEMPLATE, host), host / "build", HOST_ARCHITECTURE
        )
        return deployed.result(), for_host.result()


@pytest.fixture(scope="session")
def build(builds: tuple[BuiltStack, BuiltStack]) -> BuiltStack:
    """template.yaml built as it is deployed (arm64)."""
    return builds[0]


@pytest.fixture(scope="session")
def host_build(builds: tuple[BuiltStack, BuiltStack]) -> BuiltStack:
    """template.yaml built for this machine's architecture, whose layers can be imported here."""
    return builds[1]


@pytest.fixture(scope="session")
def lambda_runtime(lambda_python: Path) -> Path:
    return lambda_runtime_dir(lambda_python)


@pytest.fixture(scope="session")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsServer]:
    log = tmp_path_factory.mktemp("aws") / "moto.log"
    with log.open("w") as output:
        # A file, not a pipe, takes moto's request log: nobody has to keep reading it.
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.deploy.aws_server", "--sam-python", str(SAM_PYTHON)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=output,
            text=True,
        )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("READY "):
            server.kill()
            pytest.fail(f"the AWS server did not start: {line!r}\n{log.read_text()[-3000:]}")
        yield AwsServer(f"http://127.0.0.1:{int(line.split()[1])}", log)
    finally:
        assert server.stdin is not None
        server.stdin.close()  # the server stops when its stdin closes
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@pytest.fixture(scope="session")
def sandbox(lambda_python: Path, lambda_runtime: Path, aws: AwsServer) -> Sandbox:
    return Sandbox(lambda_python, lambda_runtime, aws_endpoint=aws.endpoint)


@pytest.fixture(scope="session")
def package_sizes(request: pytest.FixtureRequest) -> dict[str, PackageSize]:
    """Sizes recorded by the tests, printed as one table at the end of the run."""
    return request.config.stash.setdefault(_SIZES_KEY, {})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    sizes = terminalreporter.config.stash.get(_SIZES_KEY, {})
    if not sizes:
        return
    terminalreporter.write_sep("=", "deployment packages (sam build, arm64)")
    terminalreporter.write_line(f"{'package':<34} {'files':>6} {'unzipped':>12} {'zipped':>12}")
    for name, size in sorted(sizes.items()):
        terminalreporter.write_line(
            f"{name:<34} {size.files:>6} {size.unzipped_bytes:>12,} {size.zipped_bytes:>12,}"
        )
