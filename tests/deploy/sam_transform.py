"""CloudFormation's `AWS::Serverless-2016-10-31` transform, run with the SAM CLI's translator.

CloudFormation expands a SAM template on its side, with the aws-sam-translator library;
the rehearsal's CloudFormation (moto) has no such step, so it runs this script with the
interpreter of .venv-sam, where the SAM CLI keeps the same library. Standard input: JSON
{"template": {...}, "parameters": {...}, "region": "..."}; standard output: the template
CloudFormation would create, as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from boto3.session import Session
from samtranslator.parser.parser import Parser  # type: ignore[import-not-found, unused-ignore]
from samtranslator.translator.translator import (  # type: ignore[import-not-found, unused-ignore]
    Translator,
)


def transform(template: dict[str, Any], parameters: dict[str, str], region: str) -> Any:
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        boto_session=Session(region_name=region),
    )
    # Policies here are inline statements or full ARNs, so no managed-policy name needs
    # looking up in IAM (which is what the map would be for).
    return translator.translate(
        sam_template=template, parameter_values=parameters, get_managed_policy_map=dict
    )


if __name__ == "__main__":
    request = json.load(sys.stdin)
    json.dump(transform(request["template"], request["parameters"], request["region"]), sys.stdout)
