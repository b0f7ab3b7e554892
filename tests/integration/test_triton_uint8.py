"""The uint8-input wrapper behind a real Triton server (PyTriton): same vectors, a quarter of the bytes."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.triton_input import request_bytes
from common.adapters.onnx_session import OnnxSession
from common.adapters.triton_session import TritonSession
from common.inference.embedder import Embedder
from offline.models.standin_embedder import build_full_clip_embedder
from offline.models.uint8_input import ensure_uint8_wrapper
from stack.triton_fixture import running_triton, triton_python

pytestmark = pytest.mark.integration


def crops(count: int) -> list[Image.Image]:
    rng = np.random.default_rng(11)
    return [Image.fromarray(rng.integers(0, 256, (60 + 7 * i, 90, 3), dtype=np.uint8)) for i in range(count)]


def test_wrapped_model_through_triton_matches_the_float_export_locally(tmp_path: Path) -> None:
    triton_python()  # skips with the install command when the environment is missing
    export = build_full_clip_embedder(tmp_path / "models" / "embedder.onnx", dim=32)
    wrapped = ensure_uint8_wrapper(export)
    batch = crops(5)
    expected = Embedder(OnnxSession(export, threads=1), batch_size=8).embed(batch)
    short = Path(tempfile.mkdtemp(prefix="t8-"))  # Triton's socket paths are limited in length
    try:
        with running_triton(short, embedder=wrapped) as url:
            check(url, batch, expected)
    finally:
        shutil.rmtree(short, ignore_errors=True)


def check(url: str, batch: list[Image.Image], expected: np.ndarray) -> None:
    session = TritonSession(url, "clip", timeout_s=60.0)
    assert {spec.name: spec.dtype for spec in session.inputs()}["pixel_values"] == "uint8"
    remote = Embedder(session, batch_size=8)
    assert remote.sends_uint8
    np.testing.assert_allclose(remote.embed(batch), expected, rtol=0, atol=1e-6)


def test_a_uint8_request_is_a_quarter_of_a_float32_one() -> None:
    pixels = np.zeros((32, 3, 224, 224), np.uint8)
    text = {"input_ids": np.zeros((32, 2), np.int64), "attention_mask": np.ones((32, 2), np.int64)}
    small = request_bytes({"pixel_values": pixels, **text})
    big = request_bytes({"pixel_values": pixels.astype(np.float32), **text})
    assert small > pixels.nbytes and big > 4 * pixels.nbytes
    assert 3.99 < big / small < 4.0
