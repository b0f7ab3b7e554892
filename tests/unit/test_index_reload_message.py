"""An embedded index with unsaved changes, whose folder another process saved meanwhile, says so
once per saved generation (at INFO: it catches up from the store), never a warning per check."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from common.embedded_index.usearch_index import UsearchIndex


def vectors(seed: int, count: int = 1) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, 8)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_a_newer_generation_on_disk_is_mentioned_once_per_generation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server, other = UsearchIndex(tmp_path, 8), UsearchIndex(tmp_path, 8)
    server.upsert([1], vectors(1))  # unsaved here
    other.upsert([2], vectors(2))
    other.flush()
    with caplog.at_level(logging.INFO, logger="common.embedded_index._index_persistence"):
        assert [server.reload_if_changed() for _ in range(5)] == [False] * 5
        other.upsert([3], vectors(3))
        other.flush()
        assert [server.reload_if_changed() for _ in range(5)] == [False] * 5
    said = [r for r in caplog.records if "changed on disk" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.INFO, logging.INFO]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
