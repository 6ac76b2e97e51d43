"""Load CloudFormation/SAM YAML, turning short-form tags (`!Ref`, `!Sub`, ...) into long form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from switchboard.local.template_intrinsics import TemplateError

_SCALAR_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
}
_FN_TAGS = (
    "Sub",
    "GetAtt",
    "Join",
    "Select",
    "Split",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "GetAZs",
    "ImportValue",
    "Base64",
    "Cidr",
    "Transform",
    "ToJsonString",
    "Length",
)


class _Loader(yaml.SafeLoader):
    """SafeLoader plus the CloudFormation tags; never constructs arbitrary objects."""


def _construct(key: str, getatt: bool = False) -> Any:
    def constructor(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if getatt and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {key: value}

    return constructor


for _tag, _key in _SCALAR_TAGS.items():
    _Loader.add_constructor(f"!{_tag}", _construct(_key))
for _tag in _FN_TAGS:
    _Loader.add_constructor(f"!{_tag}", _construct(f"Fn::{_tag}", getatt=_tag == "GetAtt"))


def load_template(path: str | Path) -> dict[str, Any]:
    """The template as plain dicts and lists, intrinsic functions in long form.

    A file that is not YAML, or not shaped as a template (Resources a mapping of resources,
    each with a Type), is a TemplateError naming what is wrong: the CLI shows it in one line.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise TemplateError(f"{path} is not valid YAML{at}: {problem}") from None
    except UnicodeDecodeError:
        raise TemplateError(f"{path} is not UTF-8 text") from None
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a CloudFormation template: it has no Resources")
    resources = document["Resources"]
    if not isinstance(resources, dict) or not resources:
        raise TemplateError(f"{path}: Resources must be a mapping of logical ids to resources")
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
            raise TemplateError(f"{path}: resource {logical_id} must be a mapping with a Type")
    for section in ("Parameters", "Conditions", "Globals", "Outputs", "Mappings"):
        if document.get(section) is not None and not isinstance(document[section], dict):
            raise TemplateError(f"{path}: {section} must be a mapping")
    return document
