"""The function processes' Unix sockets live where AF_UNIX can reach them."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from switchboard.local.functions import SOCKET_NAME_MAX, socket_directory


def _bind(directory: str) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(os.path.join(directory, "w" * SOCKET_NAME_MAX))


def test_the_directory_is_made_under_tmpdir_when_it_is_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short = tempfile.mkdtemp(prefix="sb-", dir="/tmp")
    monkeypatch.setattr(tempfile, "tempdir", short)
    try:
        directory = socket_directory()

        assert Path(directory).parent == Path(short)
        assert os.stat(directory).st_mode & 0o777 == 0o700
        _bind(directory)
    finally:
        shutil.rmtree(short)


def test_a_tmpdir_too_deep_for_a_socket_falls_back_to_tmp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))

    directory = socket_directory()
    try:
        assert Path(directory).parent == Path("/tmp")
        assert list(deep.iterdir()) == []  # its first try, too deep, was removed
        _bind(directory)
    finally:
        shutil.rmtree(directory)
    with pytest.raises(OSError, match="too long"):
        _bind(str(deep))
