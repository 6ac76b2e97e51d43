"""Cold start of each deployed function: importing its handler, against a bare `import boto3`.

    .venv/bin/python scripts/bench_coldstart.py [--rounds 15] [--explain]

Builds template.yaml as `sam build` does (and once more for this machine's architecture,
whose layers can be imported here; see tests/deploy/lambda_packages.py), then starts fresh
python3.13 interpreters that see only a function's package, its layers and the Lambda
runtime's boto3, and times the import of the handler module: what Lambda's Init phase runs
(clients are made on first use, in the first invocation). Like Lambda, the package has no
bytecode cache, so its modules are compiled on every start; the runtime's boto3 has one.

Each round starts one interpreter per function and one that imports only boto3, in turn,
so that all see the same machine load; the table gives medians and each function's ratio
to the baseline. Target: the WebSocket API's functions at most 1.3x. `--explain` prints
the slowest imports (`python -X importtime`) of each function beyond the baseline's;
`--without-bytecode` measures the same packages without their compiled modules.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the build and sandbox helpers live with the deploy tests

from tests.deploy.lambda_packages import (  # noqa: E402
    HOST_ARCHITECTURE,
    TEMPLATE,
    BuiltStack,
    host_template,
    lambda_runtime_dir,
    package_size,
    runtime_python,
    sam_build,
)
from tests.deploy.lambda_sandbox import Sandbox  # noqa: E402

from switchboard.local.template_model import read_template  # noqa: E402

TARGET = 1.3
BASELINE = "boto3.client"  # importing the module `boto3`, nothing else
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass(frozen=True)
class Row:
    function: str
    package_kb: float
    with_layers_kb: float
    import_ms: float
    baseline_ms: float
    target: float | None

    @property
    def ratio(self) -> float:
        return self.import_ms / self.baseline_ms

    @property
    def result(self) -> str:
        if self.target is None:
            return "-"
        return "PASS" if self.ratio <= self.target else "MISS"


@dataclass(frozen=True)
class Variant:
    """A function as a stack deploys it: its layers depend on the template's conditions."""

    label: str
    function: str
    conditions: frozenset[str] = frozenset()


def variants(build: BuiltStack) -> list[Variant]:
    """Each function with the default parameters; those with conditional layers also with."""
    found = []
    for name in sorted(build.functions):
        found.append(Variant(name, name))
        uses = build.functions[name].layers
        for condition in sorted({use.condition for use in uses if use.condition is not None}):
            found.append(Variant(f"{name} ({condition})", name, frozenset({condition})))
    return found


def measure(
    sandbox: Sandbox, build: BuiltStack, host: BuiltStack, rounds: int
) -> tuple[dict[Variant, list[float]], list[float]]:
    times: dict[Variant, list[float]] = {variant: [] for variant in variants(build)}
    baseline: list[float] = []
    for _ in range(rounds):
        baseline.append(sandbox.run([], BASELINE).import_ms)
        for variant, samples in times.items():
            function = build.functions[variant.function]
            path = [
                function.code_dir,
                *host.layer_python_dirs(variant.function, variant.conditions),
            ]
            samples.append(sandbox.run(path, function.handler).import_ms)
    return times, baseline


def import_times(sandbox: Sandbox, path: list[Path], handler: str) -> dict[str, int]:
    """Microseconds each module took to import itself, from `python -X importtime`."""
    stderr = sandbox.run(path, handler, interpreter_options=["-X", "importtime"]).stderr
    return {match.group(4): int(match.group(1)) for match in IMPORT_LINE.finditer(stderr)}


def explain(sandbox: Sandbox, build: BuiltStack, host: BuiltStack, functions: list[str]) -> None:
    """What each function imports that `import boto3` does not, by top-level package."""
    baseline = import_times(sandbox, [], BASELINE)
    for name in functions:
        function = build.functions[name]
        path = [function.code_dir, *host.layer_python_dirs(name)]
        by_package: dict[str, int] = {}
        for module, micros in import_times(sandbox, path, function.handler).items():
            if module not in baseline:
                package = module.partition(".")[0]
                by_package[package] = by_package.get(package, 0) + micros
        total = sum(by_package.values()) / 1000
        print(f"\n{name}: {total:.1f} ms importing what `import boto3` does not (self times)")
        for package, micros in sorted(by_package.items(), key=lambda item: -item[1])[:10]:
            print(f"  {micros / 1000:8.1f}  {package}")


def render(rows: list[Row], rounds: int) -> str:
    lines = [
        f"Import and initialisation of each handler, median of {rounds} fresh python3.13 "
        "interpreters each, against a bare `import boto3` in the same rounds.",
        "",
        "| function | package (KB) | with layers (KB) | import+init (ms) | `import boto3` (ms) "
        "| ratio | target | result |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        target = f"<= {row.target}x" if row.target is not None else "-"
        lines.append(
            f"| {row.function} | {row.package_kb:,.0f} | {row.with_layers_kb:,.0f} "
            f"| {row.import_ms:.1f} | {row.baseline_ms:.1f} | {row.ratio:.2f}x | {target} "
            f"| {row.result} |"
        )
    lines.append("")
    lines.append("Package sizes are unzipped, as Lambda counts them (limit 250 MB with layers).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--explain", action="store_true", help="list the slowest imports")
    parser.add_argument(
        "--without-bytecode",
        action="store_true",
        help="delete the builds' bytecode first, to see what shipping it saves",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "artifacts" / "bench_coldstart.md")
    arguments = parser.parse_args()

    python = runtime_python("python3.13")
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as scratch:
        directory = Path(scratch)
        print("building (sam build, twice: arm64 as deployed, and this machine's) ...")
        with ThreadPoolExecutor(max_workers=2) as pool:
            deployed = pool.submit(sam_build, TEMPLATE, directory / "build")
            host_path = host_template(TEMPLATE, directory / "host")
            for_host = pool.submit(
                sam_build, host_path, directory / "host" / "build", HOST_ARCHITECTURE
            )
            build, host = deployed.result(), for_host.result()
        if arguments.without_bytecode:
            for cache in [*directory.rglob("__pycache__")]:
                shutil.rmtree(cache)
        sandbox = Sandbox(python, lambda_runtime_dir(python))
        model = read_template(TEMPLATE)
        websocket = {route.function for route in model.routes.values()} | {
            authorizer.function for authorizer in model.authorizers.values()
        }
        times, baseline = measure(sandbox, build, host, arguments.rounds)
        baseline_ms = statistics.median(baseline)
        rows = []
        for variant, samples in times.items():
            function = build.functions[variant.function]
            code = package_size(function.code_dir).unzipped_bytes
            layers = sum(
                package_size(build.layers[use.layer]).unzipped_bytes
                for use in function.layers
                if use.condition is None or use.condition in variant.conditions
            )
            rows.append(
                Row(
                    variant.label,
                    code / 1024,
                    (code + layers) / 1024,
                    statistics.median(samples),
                    baseline_ms,
                    TARGET if variant.function in websocket else None,
                )
            )
        table = render(rows, arguments.rounds)
        print(table)
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.write_text(table + "\n", encoding="utf-8")
        if arguments.explain:
            explain(sandbox, build, host, sorted(build.functions))


if __name__ == "__main__":
    main()
