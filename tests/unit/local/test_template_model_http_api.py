"""The template reader's HTTP API: `HttpApi` events as routes, and the URLs functions see."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from switchboard.local.cfn_yaml import load_template
from switchboard.local.template_intrinsics import TemplateError
from switchboard.local.template_model import (
    TemplateModel,
    has_http_api_events,
    read_template,
)

HEADER = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  StageName:
    Type: String
    Default: prod
Globals:
  Function:
    Runtime: python3.13
    CodeUri: .
    Timeout: 29
Resources:
  WebSocketApi:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: "$request.body.action"
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref WebSocketApi
      StageName: !Ref StageName
"""


def template(tmp_path: Path, resources: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(HEADER + textwrap.indent(textwrap.dedent(resources), "  "), encoding="utf-8")
    return path


def read(tmp_path: Path, resources: str) -> TemplateModel:
    return read_template(
        template(tmp_path, resources),
        gateway_url="http://127.0.0.1:4001",
        http_api_url="http://127.0.0.1:4000",
    )


API = """\
HttpApi:
  Type: AWS::Serverless::HttpApi
ApiFunction:
  Type: AWS::Serverless::Function
  Properties:
    Handler: app.handler
    Environment:
      Variables:
        WEBSOCKET_URL: !Sub "wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}"
        HTTP_API_URL: !Sub "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
        HTTP_API_ENDPOINT: !GetAtt HttpApi.ApiEndpoint
        HTTP_API_ID: !Ref HttpApi
    Events:
      Health:
        Type: HttpApi
        Properties: {ApiId: !Ref HttpApi, Path: /health, Method: get}
      Post:
        Type: HttpApi
        Properties:
          ApiId: !Ref HttpApi
          Path: /rooms/{room}/messages
          Method: POST
          TimeoutInMillis: 5000
      Any:
        Type: HttpApi
        Properties: {ApiId: !Ref HttpApi, Path: "/files/{proxy+}", Method: any}
OtherFunction:
  Type: AWS::Serverless::Function
  Properties:
    Handler: other.handler
    Events:
      CatchAll:
        Type: HttpApi
        Properties: {ApiId: !Ref HttpApi}
"""


def test_http_api_events_become_routes(tmp_path: Path) -> None:
    model = read(tmp_path, API)
    assert model.http_api is not None
    assert model.http_api.logical_id == "HttpApi"
    assert model.http_api.stage == "$default"
    routes = model.http_api.routes
    assert sorted(routes) == [
        "$default",
        "ANY /files/{proxy+}",
        "GET /health",
        "POST /rooms/{room}/messages",
    ]
    assert routes["GET /health"].function == "ApiFunction"
    assert routes["GET /health"].event == "Health"
    assert routes["$default"].function == "OtherFunction"
    assert routes["POST /rooms/{room}/messages"].timeout_ms == 5000
    assert routes["GET /health"].timeout_ms == 30_000
    assert not any(route.authorized for route in routes.values())


def test_api_urls_resolve_to_the_local_servers(tmp_path: Path) -> None:
    environment = read(tmp_path, API).function("ApiFunction").environment
    assert environment["WEBSOCKET_URL"] == "ws://127.0.0.1:4001/prod"
    assert environment["HTTP_API_URL"] == "http://127.0.0.1:4000"
    assert environment["HTTP_API_ENDPOINT"] == "http://127.0.0.1:4000"
    assert environment["HTTP_API_ID"] == "localhttp"


def test_the_websocket_url_follows_the_stage_served(tmp_path: Path) -> None:
    model = read_template(template(tmp_path, API), gateway_url="http://127.0.0.1:4001", stage="dev")
    assert model.function("ApiFunction").environment["WEBSOCKET_URL"] == "ws://127.0.0.1:4001/dev"


def test_events_without_api_id_use_the_implicit_api(tmp_path: Path) -> None:
    model = read(
        tmp_path,
        """\
        ApiFunction:
          Type: AWS::Serverless::Function
          Properties:
            Handler: app.handler
            Environment:
              Variables:
                URL: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com"
            Events:
              Health:
                Type: HttpApi
                Properties: {Path: /health, Method: GET}
        """,
    )
    assert model.http_api is not None
    assert model.http_api.logical_id == "ServerlessHttpApi"
    assert list(model.http_api.routes) == ["GET /health"]
    assert model.function("ApiFunction").environment["URL"] == "http://127.0.0.1:4000"


def test_a_named_stage_and_authorizers_are_read(tmp_path: Path) -> None:
    model = read(
        tmp_path,
        """\
        HttpApi:
          Type: AWS::Serverless::HttpApi
          Properties:
            StageName: v1
            Auth:
              DefaultAuthorizer: Jwt
              Authorizers:
                Jwt: {IdentitySource: $request.header.Authorization}
        ApiFunction:
          Type: AWS::Serverless::Function
          Properties:
            Handler: app.handler
            Events:
              Open:
                Type: HttpApi
                Properties:
                  {ApiId: !Ref HttpApi, Path: /open, Method: GET, Auth: {Authorizer: NONE}}
              Closed:
                Type: HttpApi
                Properties: {ApiId: !Ref HttpApi, Path: /closed, Method: GET}
        """,
    )
    assert model.http_api is not None
    assert model.http_api.stage == "v1"
    assert not model.http_api.routes["GET /open"].authorized
    assert model.http_api.routes["GET /closed"].authorized


def test_a_template_without_http_api_events_has_no_http_api(tmp_path: Path) -> None:
    path = template(tmp_path, "")
    assert read_template(path).http_api is None
    assert not has_http_api_events(load_template(path))


def test_has_http_api_events(tmp_path: Path) -> None:
    assert has_http_api_events(load_template(template(tmp_path, API)))


def test_functions_whose_condition_is_false_serve_no_routes(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        HEADER.replace("Resources:", "Conditions:\n  Never: !Equals [a, b]\nResources:")
        + textwrap.indent(
            textwrap.dedent(
                """\
                ApiFunction:
                  Type: AWS::Serverless::Function
                  Condition: Never
                  Properties:
                    Handler: app.handler
                    Events:
                      Health:
                        Type: HttpApi
                        Properties: {Path: /health, Method: GET}
                """
            ),
            "  ",
        ),
        encoding="utf-8",
    )
    assert read_template(path).http_api is None


def event(properties: str, api: str = "HttpApi:\n  Type: AWS::Serverless::HttpApi\n") -> str:
    return api + textwrap.dedent(
        f"""\
        ApiFunction:
          Type: AWS::Serverless::Function
          Properties:
            Handler: app.handler
            Events:
              Broken:
                Type: HttpApi
                Properties: {properties}
        """
    )


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (event("{ApiId: !Ref HttpApi, Path: /x}"), "needs both Path and Method, or neither"),
        (
            "ApiFunction:\n  Type: AWS::Serverless::Function\n"
            "  Properties: {Handler: app.handler, Events: [HttpApi]}\n",
            "ApiFunction: Events must be a map of events",
        ),
        (event("{ApiId: !Ref HttpApi, Path: x, Method: GET}"), "must start with '/'"),
        (event("{ApiId: !Ref HttpApi, Path: /x, Method: FETCH}"), "METHOD one of"),
        (
            event('{ApiId: !Ref HttpApi, Path: "/a/{p+}/b", Method: GET}'),
            "a greedy variable must be the last segment",
        ),
        (
            event("{ApiId: !Ref HttpApi, Path: /x, Method: GET, PayloadFormatVersion: '1.0'}"),
            "PayloadFormatVersion 1.0 is not served locally",
        ),
        (
            event("{ApiId: !Ref HttpApi, Path: /x, Method: GET, TimeoutInMillis: 31000}"),
            "TimeoutInMillis must be between 50 and 30000",
        ),
        (event("{ApiId: !Ref WebSocketApi, Path: /x, Method: GET}"), "is not an AWS::Serverless"),
        (
            event("{ApiId: !Ref HttpApi, Path: /x, Method: GET}")
            + "      Again:\n        Type: HttpApi\n"
            + "        Properties: {ApiId: !Ref HttpApi, Path: /x, Method: GET}\n",
            "route 'GET /x' is already the event Broken of ApiFunction",
        ),
        (
            event("{ApiId: !Ref HttpApi, Path: /x, Method: GET}")
            + "      Implicit:\n        Type: HttpApi\n"
            + "        Properties: {Path: /y, Method: GET}\n",
            "serves one HTTP API; the HttpApi events use HttpApi, ServerlessHttpApi",
        ),
    ],
)
def test_http_api_events_it_cannot_serve_are_refused(
    tmp_path: Path, resources: str, message: str
) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(")):
        read(tmp_path, resources)
