"""`switchboard token` run as a user runs it: bad input is one line on stderr and exit 2, never
a traceback, and it never prints a token the verifier would refuse.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from switchboard.local.dev_secret import dev_secret
from switchboard.tokens import TokenSettings, TokenVerifier
from tests.support.template import TEMPLATE

SUB_RULE = "the sub claim must be 1-128 printable characters"
NO_GUEST = "the sub claim may not start with 'guest:'"


def run_token(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The installed CLI against a copy of template.yaml, in a process of its own."""
    template = tmp_path / "template.yaml"
    if not template.exists():
        shutil.copy(TEMPLATE, template)
    return subprocess.run(
        [sys.executable, "-m", "switchboard", "token", *arguments, "--template", str(template)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param([""], '"name" must be 1-32 printable characters', id="empty_name"),
        pytest.param(["x" * 33], '"name" must be 1-32 printable characters', id="long_name"),
        pytest.param(
            ["ada", "--room", "bad room"],
            '"room" must be 1-64 characters of letters, digits',
            id="bad_room",
        ),
        pytest.param(
            ["billing", "--service", "--user-id", "guest:x"],
            f"--user-id: {NO_GUEST}",
            id="guest_user_id",
        ),
        pytest.param(["ada", "--user-id", "u" * 129], f"--user-id: {SUB_RULE}", id="long_user_id"),
        pytest.param(["ada", "--user-id", ""], f"--user-id: {SUB_RULE}", id="empty_user_id"),
        pytest.param(["ada", "--user-id", "a\tb"], f"--user-id: {SUB_RULE}", id="tab_in_user_id"),
        pytest.param(
            ["guest:ada"],
            f"NAME (the user id without --user-id): {NO_GUEST}",
            id="guest_name_as_user_id",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    done = run_token(tmp_path, *arguments)
    assert done.returncode == 2, done.stderr
    assert done.stdout == "", "no token is printed"
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"switchboard token: {message}")
    # Refused before the checkout's secret is made: nothing is left behind.
    assert not (tmp_path / ".switchboard").exists()


def test_the_longest_user_id_makes_a_token_the_verifier_accepts(tmp_path: Path) -> None:
    user_id = "u" * 128
    done = run_token(tmp_path, "ada", "--service", "--user-id", user_id)
    assert done.returncode == 0, done.stderr
    verifier = TokenVerifier(
        TokenSettings("switchboard", "switchboard", ("HS256",)), secret=dev_secret(tmp_path)
    )
    identity = verifier.verify(done.stdout.strip())
    assert (identity.user_id, identity.name) == (user_id, "ada")
