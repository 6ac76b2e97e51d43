"""`switchboard token`: development tokens signed with the checkout's secret; `--service`
makes one the HTTP API accepts from a backend.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from switchboard import cli
from switchboard.local.dev_secret import dev_secret
from switchboard.tokens import (
    SERVICE_ROLE,
    TokenSettings,
    TokenVerifier,
    identity_from_claims,
    roles_from_claims,
)
from tests.support.template import TEMPLATE


def mint(tmp_path: Path, capsys: pytest.CaptureFixture[str], *options: str) -> dict[str, object]:
    """Run the command against a copy of template.yaml; the claims of what it printed."""
    template = tmp_path / "template.yaml"
    shutil.copy(TEMPLATE, template)
    assert cli.main(["token", *options, "--template", str(template)]) == 0
    token = capsys.readouterr().out.strip()
    # The way a local stack checks it: the template's issuer and audience, its secret.
    verifier = TokenVerifier(
        TokenSettings("switchboard", "switchboard", ("HS256",)), secret=dev_secret(tmp_path)
    )
    return verifier.claims(token)


def test_a_service_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    claims = mint(tmp_path, capsys, "billing", "--service", "--user-id", "svc-billing")
    assert roles_from_claims(claims) == {SERVICE_ROLE}
    identity = identity_from_claims(claims)
    assert (identity.user_id, identity.name) == ("svc-billing", "billing")


def test_a_users_token_has_no_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    claims = mint(tmp_path, capsys, "ada", "--room", "private:ops")
    assert "roles" not in claims
    assert roles_from_claims(claims) == frozenset()
    assert claims["rooms"] == ["private:ops"]
