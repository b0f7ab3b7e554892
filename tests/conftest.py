"""Shared fixtures. Area-specific fixtures live next to their tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A fresh LOGO_ANN_HOME."""
    path = tmp_path / "home"
    path.mkdir()
    yield path
