"""What `sam build` makes of template.yaml: each function's package and each layer, on disk.

Deploys build for arm64, whose native wheels (cryptography, pydantic-core) cannot be
imported on an x86_64 machine. So that every package can still be imported and run here,
the same template is built a second time for the machine's own architecture: the same
Makefile copies the same code, and SAM resolves the same layer requirements for this
platform. The functions' code is pure Python and identical in both builds; the layers are
checked to hold the same distributions at the same versions.

The Lambda runtime's own packages (boto3, botocore and what they need) are installed once
into a cache directory, at the oldest boto3 pyproject.toml accepts, since the runtime's
boto3 may be older than the one development uses.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard.local.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAM = ROOT / "scripts" / "sam"
#: Where the Lambda runtime's packages are installed once; .aws-sam/ is git-ignored.
CACHE = ROOT / ".aws-sam" / "offline"
FUNCTION_TYPE = "AWS::Serverless::Function"
LAYER_TYPE = "AWS::Serverless::LayerVersion"
HOST_ARCHITECTURE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
    platform.machine().lower()
]


class BuildError(RuntimeError):
    """`sam build` or `pip install` failed; the message carries the tool's output."""


@dataclass(frozen=True)
class LayerUse:
    """A layer of a function, and the condition it depends on (`!If [C, !Ref L, NoValue]`)."""

    layer: str
    condition: str | None = None


@dataclass(frozen=True)
class BuiltFunction:
    logical_id: str
    handler: str
    runtime: str
    code_dir: Path
    layers: tuple[LayerUse, ...]


@dataclass(frozen=True)
class BuiltStack:
    """A `sam build` output directory, read through the template SAM wrote into it."""

    build_dir: Path
    template: dict[str, Any]
    functions: dict[str, BuiltFunction]
    #: Layer logical id -> the directory Lambda unpacks it from (`/opt`).
    layers: dict[str, Path]

    @property
    def template_path(self) -> Path:
        return self.build_dir / "template.yaml"

    def layer_python_dirs(
        self, function_id: str, conditions: frozenset[str] = frozenset()
    ) -> list[Path]:
        """What the layers of a function add to sys.path: `/opt/python` of each, in order.

        `conditions` names the template conditions that hold (by default none: the
        template's default parameters, where `UseJwks` is false).
        """
        return [
            self.layers[use.layer] / "python"
            for use in self.functions[function_id].layers
            if use.condition is None or use.condition in conditions
        ]


def read_build(build_dir: Path) -> BuiltStack:
    template = load_template(build_dir / "template.yaml")
    resources: dict[str, Any] = template["Resources"]
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    layers = {
        logical_id: build_dir / str(resource["Properties"]["ContentUri"])
        for logical_id, resource in resources.items()
        if resource["Type"] == LAYER_TYPE
    }
    functions = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != FUNCTION_TYPE:
            continue
        props = {**globals_, **resource["Properties"]}
        functions[logical_id] = BuiltFunction(
            logical_id=logical_id,
            handler=str(props["Handler"]),
            runtime=str(props["Runtime"]),
            code_dir=build_dir / str(resource["Properties"]["CodeUri"]),
            layers=tuple(_layer_use(layer) for layer in props.get("Layers") or []),
        )
    return BuiltStack(build_dir, template, functions, layers)


def _layer_use(value: Any) -> LayerUse:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return LayerUse(str(value["Ref"]))
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        condition, then, otherwise = value["Fn::If"]
        if otherwise == {"Ref": "AWS::NoValue"} and set(then) == {"Ref"}:
            return LayerUse(str(then["Ref"]), str(condition))
    raise BuildError(
        f"a layer given as {value!r}: only !Ref to a layer, or !If [Condition, !Ref Layer, "
        "!Ref AWS::NoValue], is read"
    )


def sam_build(template: Path, build_dir: Path, architecture: str | None = None) -> BuiltStack:
    """`sam build` as a user runs it (scripts/sam), into `build_dir`.

    `architecture` is for the layers' Makefiles (LAMBDA_ARCHITECTURE), which cannot read it
    from the template; by default they build for the template's own (arm64).
    """
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    environment.pop("LAMBDA_ARCHITECTURE", None)
    if architecture:
        environment["LAMBDA_ARCHITECTURE"] = architecture
    result = subprocess.run(
        [str(SAM), "build", "--template-file", str(template), "--build-dir", str(build_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=environment,
    )
    if result.returncode != 0 or "Build Succeeded" not in result.stdout:
        raise BuildError(f"sam build of {template} failed:\n{result.stdout}\n{result.stderr}")
    return read_build(build_dir)


def host_template(template: Path, directory: Path) -> Path:
    """A copy of `template` for this machine's architecture, with its paths made absolute.

    Written as JSON (which SAM reads as well as YAML), so the short tags need no care.
    Build it with `sam_build(..., architecture=HOST_ARCHITECTURE)`, for the layers' Makefiles.
    """
    document = load_template(template)
    base = template.parent
    for section in ((document.get("Globals") or {}).get("Function") or {}, *_properties(document)):
        if "Architectures" in section:
            section["Architectures"] = [HOST_ARCHITECTURE]
        if "CompatibleArchitectures" in section:
            section["CompatibleArchitectures"] = [HOST_ARCHITECTURE]
        for key in ("CodeUri", "ContentUri"):
            if isinstance(section.get(key), str):
                section[key] = str((base / section[key]).resolve())
    for resource in document["Resources"].values():
        metadata = resource.get("Metadata") or {}
        if "BuildArchitecture" in metadata:
            metadata["BuildArchitecture"] = HOST_ARCHITECTURE
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "template.json"
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


def _properties(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        resource.setdefault("Properties", {})
        for resource in document["Resources"].values()
        if resource["Type"] in (FUNCTION_TYPE, LAYER_TYPE)
    ]


def distributions(site_dir: Path) -> dict[str, str]:
    """name -> version of every distribution installed in a directory (its *.dist-info)."""
    found = {}
    for info in site_dir.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[name.lower().replace("_", "-")] = version
    return found


#: The runtime's bytecode tag, and the pyc flags of `compileall --invalidation-mode checked-hash`.
BYTECODE_TAG = "cpython-313"
CHECKED_HASH = 0b11


def bytecode_problems(directory: Path) -> list[str]:
    """Modules without checked-hash bytecode for the runtime, and bytecode of no module."""
    problems = []
    for source in sorted(directory.rglob("*.py")):
        compiled = source.parent / "__pycache__" / f"{source.stem}.{BYTECODE_TAG}.pyc"
        if not compiled.is_file():
            problems.append(f"no bytecode: {source.relative_to(directory)}")
        elif int.from_bytes(compiled.read_bytes()[4:8], "little") != CHECKED_HASH:
            problems.append(f"not checked-hash bytecode: {compiled.relative_to(directory)}")
    for compiled in sorted(directory.rglob("*.pyc")):
        stem, _, tag = compiled.name.removesuffix(".pyc").partition(".")
        if tag != BYTECODE_TAG or not (compiled.parent.parent / f"{stem}.py").is_file():
            problems.append(f"stray bytecode: {compiled.relative_to(directory)}")
    return problems


@dataclass(frozen=True)
class PackageSize:
    files: int
    unzipped_bytes: int
    zipped_bytes: int


def package_size(directory: Path) -> PackageSize:
    """Size of a directory as Lambda counts it: unzipped bytes, and the zip SAM uploads."""
    buffer = io.BytesIO()
    files = 0
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                files += 1
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(directory))
    return PackageSize(files, unzipped, len(buffer.getvalue()))


# ----------------------------------------------------------------- the Lambda runtime


def runtime_python(runtime: str) -> Path:
    """The interpreter of a Lambda runtime (`python3.13`), found as scripts/sam finds it."""
    version = runtime.removeprefix("python")
    candidates = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        prefix = subprocess.run(
            [pyenv, "prefix", version], capture_output=True, text=True, check=False, timeout=30
        )
        if prefix.returncode == 0:
            candidates.append(Path(prefix.stdout.strip()) / "bin" / f"python{version}")
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(root.glob(f"versions/{version}*/bin/python{version}"))
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BuildError(f"no python{version} found (pyenv or PATH): the {runtime} runtime needs it")


def runtime_sdk_requirement() -> str:
    """`boto3==X`, X the lower bound of pyproject.toml's boto3 requirement."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'"boto3>=([0-9.]+)', text)
    if not match:
        raise BuildError('pyproject.toml has no "boto3>=X" dependency to take the version from')
    return f"boto3=={match.group(1)}"


def lambda_runtime_dir(python: Path) -> Path:
    """boto3 and botocore as the Lambda runtime provides them, installed once (cached)."""
    requirement = runtime_sdk_requirement()
    version = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    target = CACHE / f"lambda-runtime-py{version}-{requirement.replace('==', '-')}"
    if (target / ".complete").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    result = subprocess.run(
        [
            *(str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-warn-script-location", "--target", str(target), requirement),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise BuildError(f"pip install {requirement} failed:\n{result.stdout}\n{result.stderr}")
    (target / ".complete").write_text(requirement + "\n", encoding="utf-8")
    return target
