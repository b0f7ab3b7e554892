"""Shared fixtures. Area-specific fixtures live next to their tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import free_port


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A fresh LOGO_ANN_HOME."""
    path = tmp_path / "home"
    path.mkdir()
    yield path
