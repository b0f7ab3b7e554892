"""The uint8-input wrapper: same vectors as the float export, 4× fewer input bytes, rebuilt when stale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from common.adapters.onnx_session import OnnxSession
from common.errors import ModelError
from common.inference.embedder import Embedder
from offline.models.fetch import ensure_standins
from offline.models.onnx_metadata import is_standin
from offline.models.standin_embedder import build_full_clip_embedder, build_vision_embedder
from offline.models.uint8_input import SOURCE_KEY, ensure_uint8_wrapper, wrap_uint8, wrapper_path


def crops(count: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(8, 300, size=(count, 2))
    return [Image.fromarray(rng.integers(0, 256, (int(h), int(w), 3), dtype=np.uint8)) for h, w in sizes]


@pytest.mark.parametrize("builder", [build_vision_embedder, build_full_clip_embedder])
def test_wrapper_gives_the_float_exports_vectors_from_uint8_pixels(tmp_path: Path, builder) -> None:
    source = builder(tmp_path / "embedder.onnx", dim=64)
    wrapped = ensure_uint8_wrapper(source)
    plain = Embedder(OnnxSession(source, threads=1), batch_size=4)
    small = Embedder(OnnxSession(wrapped, threads=1), batch_size=4)
    assert small.sends_uint8 and not plain.sends_uint8
    batch = crops(9)
    np.testing.assert_allclose(small.embed(batch), plain.embed(batch), rtol=0, atol=1e-6)
    assert small.full_clip == plain.full_clip


def test_embedder_sends_uint8_pixels_a_quarter_of_the_bytes(tmp_path: Path) -> None:
    wrapped = ensure_uint8_wrapper(build_vision_embedder(tmp_path / "embedder.onnx", dim=16))
    session = OnnxSession(wrapped, threads=1)
    sent: list[np.ndarray] = []
    original = session.run

    def spy(names, feeds):  # type: ignore[no-untyped-def]
        sent.append(np.asarray(feeds["pixel_values"]))
        return original(names, feeds)

    session.run = spy  # type: ignore[method-assign]
    Embedder(session, batch_size=8).embed(crops(3))
    (pixels,) = sent
    assert pixels.dtype == np.uint8 and pixels.shape == (3, 3, 224, 224)
    assert pixels.nbytes * 4 == np.zeros(pixels.shape, np.float32).nbytes


def test_wrapper_is_rebuilt_when_the_source_changes_and_kept_otherwise(tmp_path: Path) -> None:
    source = build_vision_embedder(tmp_path / "embedder.onnx", dim=16, seed=1)
    first = ensure_uint8_wrapper(source)
    assert first == wrapper_path(source) == tmp_path / "embedder-u8.onnx"
    stamp = first.stat().st_mtime_ns
    assert ensure_uint8_wrapper(source).stat().st_mtime_ns == stamp
    build_vision_embedder(source, dim=16, seed=2)  # another export under the same name
    ensure_uint8_wrapper(source)
    props = {p.key: p.value for p in onnx.load(str(first)).metadata_props}
    import hashlib

    assert props[SOURCE_KEY] == hashlib.sha256(source.read_bytes()).hexdigest()


def test_models_prepare_builds_the_wrapper_and_keeps_the_standin_mark(tmp_path: Path) -> None:
    ensure_standins(tmp_path)
    wrapped = tmp_path / "embedder-u8.onnx"
    assert wrapped.is_file() and is_standin(wrapped)
    inputs = {i.name: i.type.tensor_type.elem_type for i in onnx.load(str(wrapped)).graph.input}
    assert inputs["pixel_values"] == onnx.TensorProto.UINT8


def test_a_wrapper_or_a_model_without_pixels_is_refused(tmp_path: Path) -> None:
    wrapped = ensure_uint8_wrapper(build_vision_embedder(tmp_path / "embedder.onnx", dim=16))
    with pytest.raises(ModelError, match="already uint8"):
        wrap_uint8(onnx.load(str(wrapped)))
    model = onnx.load(str(tmp_path / "embedder.onnx"))
    model.graph.input[0].name = "images"
    with pytest.raises(ModelError, match="no 'pixel_values' input"):
        wrap_uint8(model)


def test_an_unreadable_export_is_a_model_error_and_leaves_no_wrapper(tmp_path: Path) -> None:
    source = tmp_path / "embedder.onnx"
    source.write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        ensure_uint8_wrapper(source)
    assert not wrapper_path(source).exists() and not list(tmp_path.glob(".*.part"))
