"""`switchboard local`, `invoke` and `token` run as a user runs them: a bad flag, a missing
file, a busy port or an unreachable DynamoDB is one line on stderr, `switchboard <command>:
<what is wrong>`, exit 2 (bad input) or 1 (the machine said no), never a traceback, and
nothing the command started is left running.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from switchboard.cli import build_parser
from tests.support.template import TEMPLATE

REPO = TEMPLATE.parent
CONNECT_EVENT = REPO / "events" / "connect.json"
COMMAND_SECONDS = 60
#: How long the command's helpers (moto's server, the function zygote) may take to exit
#: after it has: they leave when their stdin closes.
LEFTOVER_SECONDS = 10.0


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def _session_members(session: int) -> list[int]:
    """Processes of a session: the command's children stay in the one it was started in."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == session:
            members.append(int(entry.name))
    return members


def assert_nothing_left_running(session: int) -> None:
    deadline = time.monotonic() + LEFTOVER_SECONDS
    while (left := _session_members(session)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:  # the test fails; these must not outlive it either
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"processes left running after the command exited: {left}"


def start(*arguments: str, cwd: Path = REPO) -> subprocess.Popen[str]:
    # A session of its own: whatever the command starts can be found, and counted, after.
    return subprocess.Popen(
        [sys.executable, "-m", "switchboard", *arguments],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str]) -> Done:
    try:
        stdout, stderr = process.communicate(timeout=COMMAND_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    assert_nothing_left_running(process.pid)
    return Done(process.returncode, stdout, stderr)


def run(*arguments: str, cwd: Path = REPO) -> Done:
    return finish(start(*arguments, cwd=cwd))


def assert_refused(done: Done, code: int, line: str, *, exact: bool = True) -> None:
    """Exit `code`, and stderr is the one line `line` (or begins with it)."""
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    [only] = done.stderr.splitlines()
    if exact:
        assert only == line
    else:
        assert only.startswith(line), only


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting is refused at once, and no other
    test's server can take it meanwhile."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@contextmanager
def busy_port() -> Iterator[int]:
    """A loopback port another server listens on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _seconds_rule(value: str) -> str:
    return f"must be a finite number of seconds > 0, got {value!r}"


def _url_rule(value: str) -> str:
    return f"must be an http(s) URL, got {value!r}"


INVOKE = ("invoke", "ConnectFunction", "-e", str(CONNECT_EVENT))


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        # 0 or less closed every client at once (and spun the CPU); nan never closed any.
        *(
            pytest.param(
                ["local", "--idle-timeout", value],
                f"switchboard local: --idle-timeout: {_seconds_rule(value)}",
                id=f"idle_timeout_{value}",
            )
            for value in ("0", "-1", "nan", "inf", "soon")
        ),
        pytest.param(
            ["local", "--max-duration", "-3"],
            f"switchboard local: --max-duration: {_seconds_rule('-3')}",
            id="max_duration_negative",
        ),
        pytest.param(
            ["local", "--management-latency-ms", "-10"],
            "switchboard local: --management-latency-ms: must be a finite number of "
            "milliseconds >= 0, got '-10'",
            id="latency_negative",
        ),
        pytest.param(
            ["local", "--management-latency-ms", "nan"],
            "switchboard local: --management-latency-ms: must be a finite number of "
            "milliseconds >= 0, got 'nan'",
            id="latency_nan",
        ),
        # None: every handshake waited for a process forever.
        pytest.param(
            ["local", "--max-processes", "0"],
            "switchboard local: --max-processes: must be 1-64, got '0'",
            id="max_processes_0",
        ),
        pytest.param(
            ["local", "--max-processes", "100000"],
            "switchboard local: --max-processes: must be 1-64, got '100000'",
            id="max_processes_huge",
        ),
        pytest.param(
            ["local", "--max-processes", "2.5"],
            "switchboard local: --max-processes: must be a whole number, got '2.5'",
            id="max_processes_fraction",
        ),
        *(
            pytest.param(
                ["local", flag, value],
                f"switchboard local: {flag}: must be a port number 0-65535, got {value!r}",
                id=f"{flag.strip('-')}_{value}",
            )
            for flag in ("--port", "--http-port")
            for value in ("-1", "70000")
        ),
        *(
            pytest.param(
                [*command, "--dynamodb-endpoint", value],
                f"switchboard {command[0]}: --dynamodb-endpoint: {_url_rule(value)}",
                id=f"{command[0]}_dynamodb_endpoint_{value}",
            )
            for command in (("local",), INVOKE)
            for value in ("localhost:8000", "not a url", "ftp://127.0.0.1:8000", "http://::1:8000")
        ),
        pytest.param(
            [*INVOKE, "--management-endpoint", "127.0.0.1:3001/prod"],
            f"switchboard invoke: --management-endpoint: {_url_rule('127.0.0.1:3001/prod')}",
            id="invoke_management_endpoint",
        ),
        *(
            pytest.param(
                [*command, "--parameter-overrides", "StageName=dev", "LogLevel"],
                f"switchboard {command[0]}: --parameter-overrides: takes Name=Value, "
                "got 'LogLevel'",
                id=f"{command[0]}_parameter_without_value",
            )
            for command in (("local",), INVOKE, ("token", "ada"))
        ),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2(arguments: list[str], line: str) -> None:
    assert_refused(run(*arguments), 2, line)


def test_the_edges_of_each_rule_are_accepted() -> None:
    args = build_parser().parse_args(
        [
            "local",
            "--idle-timeout",
            "0.5",
            "--max-duration",
            "1e-3",
            "--management-latency-ms",
            "0",
            "--max-processes",
            "1",
            "--port",
            "65535",
            "--http-port",
            "0",
            "--dynamodb-endpoint",
            "http://[::1]:8000",
            "--parameter-overrides",
            "A=",
            "B=x=y",
        ]
    )
    assert (args.idle_timeout, args.max_duration, args.management_latency_ms) == (0.5, 1e-3, 0)
    assert (args.max_processes, args.port, args.http_port) == (1, 65535, 0)
    assert args.dynamodb_endpoint == "http://[::1]:8000"
    assert args.parameter_overrides == [("A", ""), ("B", "x=y")]


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["local", "--port", "0", "--http-port", "0"], id="local"),
        pytest.param(list(INVOKE), id="invoke"),
        pytest.param(["token", "ada"], id="token"),
    ],
)
def test_a_template_that_is_not_there_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    done = run(*command, "-t", "nope.yaml", cwd=tmp_path)
    assert_refused(
        done,
        2,
        f"switchboard {command[0]}: cannot read the template nope.yaml: no such file or directory",
    )
    assert not (tmp_path / ".switchboard").exists(), "refused before the secret is made"


@pytest.mark.parametrize(
    ("event", "kind"),
    [("[1, 2]", "an array"), ('"connect"', "a string"), ("null", "null"), ("3", "a number")],
)
def test_invoke_refuses_an_event_that_is_not_an_object(
    tmp_path: Path, event: str, kind: str
) -> None:
    path = tmp_path / "event.json"
    path.write_text(event, encoding="utf-8")
    done = run("invoke", "ConnectFunction", "-e", str(path))
    assert_refused(done, 2, f"switchboard invoke: the event must be a JSON object, got {kind}")


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["local", "--port", "0", "--http-port", "0"], id="local"),
        pytest.param(list(INVOKE), id="invoke"),
    ],
)
def test_a_dynamodb_that_is_down_is_one_line_and_exit_1(command: list[str]) -> None:
    with refused_port() as port:
        endpoint = f"http://127.0.0.1:{port}"
        done = run(*command, "--dynamodb-endpoint", endpoint)
    assert_refused(
        done,
        1,
        f"switchboard {command[0]}: cannot reach DynamoDB at {endpoint}: connection refused",
    )


@pytest.mark.parametrize("flag", ["--port", "--http-port"])
def test_a_busy_port_names_the_address_and_the_flag(flag: str) -> None:
    other = "--http-port" if flag == "--port" else "--port"
    with busy_port() as port:
        # template.yaml has HttpApi events: both ports are bound.
        done = run("local", flag, str(port), other, "0", "-t", str(TEMPLATE))
    assert_refused(
        done,
        1,
        f"switchboard local: cannot listen on 127.0.0.1:{port} ({flag}): address already in use",
    )


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("no.such.host.invalid", id="name_that_does_not_resolve"),
        pytest.param("192.0.2.7", id="address_of_no_interface_here"),  # TEST-NET-1
    ],
)
def test_a_host_it_cannot_listen_on_is_one_line_and_exit_1(host: str) -> None:
    done = run("local", "--host", host, "--port", "0", "--http-port", "0")
    assert_refused(done, 1, f"switchboard local: cannot listen on {host}:0 (--host): ", exact=False)


@pytest.mark.parametrize(
    ("host", "in_urls"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),  # listening everywhere: reached here on loopback
        ("::1", "[::1]"),
        ("::", "[::1]"),
        ("fe80::1", "[fe80::1]"),
        ("localhost", "localhost"),
    ],
)
def test_urls_built_from_the_host_are_urls(host: str, in_urls: str) -> None:
    # http://::1:3001 is no URL: the functions' boto3 refused it and no handler imported.
    # (Checked without listening on it: servers in tests listen on 127.0.0.1 only.)
    from switchboard.local.app import _connect_host

    assert _connect_host(host) == in_urls


@pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
    reason="SIGINT is ignored here, and so in the command this test starts",
)
@pytest.mark.parametrize("delay", [0.1, 0.4])
def test_ctrl_c_while_starting_exits_quietly(delay: float) -> None:
    # At 0.1 s the command is importing boto3 and moto; at 0.4 s it is starting them.
    process = start("local", "--port", "0", "--http-port", "0", "-t", str(TEMPLATE))
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    done = finish(process)
    assert done.returncode in (0, 130), done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode == 130:
        assert done.stderr == ""
