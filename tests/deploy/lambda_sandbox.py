"""Run a built function's handler in a fresh interpreter that sees only what Lambda gives it.

The interpreter is the runtime's (python3.13), started isolated and without site-packages
(see lambda_bootstrap.py); sys.path holds the function's package, its layers (`/opt/python`)
and the runtime's boto3, in Lambda's order. The environment holds only what Lambda sets
and the function's own variables: nothing of the developer's shell, AWS config or venv.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
REGION = "us-east-1"


@dataclass(frozen=True)
class Outcome:
    """One event's result: the handler's response, or the error it raised; its AWS calls."""

    result: dict[str, Any]

    @property
    def response(self) -> Any:
        assert "error" not in self.result, f"{self.result['error']}\n{self.result['traceback']}"
        return self.result["response"]

    @property
    def error(self) -> dict[str, str] | None:
        error: dict[str, str] | None = self.result.get("error")
        return error

    @property
    def calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self.result["calls"]
        return calls


@dataclass(frozen=True)
class Invocation:
    """What one fresh interpreter reported: the import, each event's outcome, the modules."""

    answer: dict[str, Any]
    stderr: str

    @property
    def import_ms(self) -> float:
        assert "importError" not in self.answer, self.describe()
        return float(self.answer["importMs"])

    @property
    def outcomes(self) -> list[Outcome]:
        assert "importError" not in self.answer, self.describe()
        return [Outcome(result) for result in self.answer["results"]]

    @property
    def outcome(self) -> Outcome:
        """The outcome of the one event sent."""
        (only,) = self.outcomes
        return only

    @property
    def modules(self) -> dict[str, list[str]]:
        modules: dict[str, list[str]] = self.answer["modules"]
        return modules

    def describe(self) -> str:
        failure = self.answer.get("importError")
        return f"{failure}\n{self.answer.get('traceback', '')}\nstderr:\n{self.stderr[-4000:]}"


@dataclass(frozen=True)
class Sandbox:
    """A runtime interpreter and the directory holding the runtime's own boto3."""

    python: Path
    runtime_dir: Path
    aws_endpoint: str = "http://127.0.0.1:1"
    credentials: Mapping[str, str] = field(
        default_factory=lambda: {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    )

    def lambda_environment(
        self, function_name: str, variables: Mapping[str, str], code_dir: Path
    ) -> dict[str, str]:
        """What Lambda puts in a function's environment, plus the function's own variables.

        AWS_ENDPOINT_URL sends every AWS call to moto; the config files are emptied so the
        developer's ~/.aws cannot leak in.
        """
        return {
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "TZ": ":UTC",
            **self.credentials,
            **variables,
        }

    def run(
        self,
        path: list[Path],
        handler: str,
        *,
        events: Sequence[Mapping[str, Any]] = (),
        environment: Mapping[str, str] | None = None,
        interpreter_options: Sequence[str] = (),
        timeout: float = 60,
    ) -> Invocation:
        """Import `handler` with sys.path = stdlib + `path` + the runtime; invoke it with
        each event in turn, in the same process (a warm container)."""
        request = {
            "path": [str(entry) for entry in [*path, self.runtime_dir]],
            "handler": handler,
            "events": list(events),
        }
        result = subprocess.run(
            [str(self.python), "-I", "-S", "-B", *interpreter_options, str(BOOTSTRAP)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=dict(environment or {}),
        )
        if result.returncode != 0 or not result.stdout:
            raise AssertionError(
                f"{handler}: the interpreter exited with {result.returncode}\n{result.stderr}"
            )
        return Invocation(json.loads(result.stdout), result.stderr)
