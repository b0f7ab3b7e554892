"""Stand-in embedders run in onnxruntime with the production tensor names, shapes and dtypes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from offline.models.fetch import ensure_standins
from offline.models.onnx_metadata import is_standin, mark_standin, read_metadata
from offline.models.standin_embedder import build_full_clip_embedder, build_vision_embedder

ROBOTOFF_TEXT = {"input_ids": [[49406, 49407]], "attention_mask": [[1, 1]]}


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def pixels(n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32)


def text_feeds(n: int) -> dict[str, np.ndarray]:
    return {name: np.array(rows * n, dtype=np.int64) for name, rows in ROBOTOFF_TEXT.items()}


def test_vision_embedder_has_the_production_signature(tmp_path: Path) -> None:
    sess = session(build_vision_embedder(tmp_path / "vision.onnx"))
    (inp,) = sess.get_inputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("pixel_values", "tensor(float)", [3, 224, 224])
    assert isinstance(inp.shape[0], str)  # dynamic batch
    (out,) = sess.get_outputs()
    assert (out.name, out.type, out.shape[1]) == ("image_embeds", "tensor(float)", 512)
    for n in (1, 5):
        (embeds,) = sess.run(["image_embeds"], {"pixel_values": pixels(n)})
        assert embeds.shape == (n, 512) and embeds.dtype == np.float32


def test_full_clip_embedder_has_robotoffs_signature(tmp_path: Path) -> None:
    sess = session(build_full_clip_embedder(tmp_path / "clip.onnx"))
    inputs = {i.name: i for i in sess.get_inputs()}
    assert [i.name for i in sess.get_inputs()] == ["input_ids", "pixel_values", "attention_mask"]
    assert inputs["input_ids"].type == inputs["attention_mask"].type == "tensor(int64)"
    assert inputs["pixel_values"].type == "tensor(float)" and inputs["pixel_values"].shape[1:] == [3, 224, 224]
    outputs = {o.name for o in sess.get_outputs()}
    assert {"image_embeds", "text_embeds", "logits_per_image"} <= outputs
    image_embeds, text_embeds = sess.run(["image_embeds", "text_embeds"], {"pixel_values": pixels(3), **text_feeds(3)})
    assert image_embeds.shape == text_embeds.shape == (3, 512)
    assert image_embeds.dtype == np.float32


def test_both_exports_give_the_same_image_vectors_for_one_seed(tmp_path: Path) -> None:
    batch = pixels(4, seed=3)
    (vision,) = session(build_vision_embedder(tmp_path / "v.onnx", seed=5)).run(
        ["image_embeds"], {"pixel_values": batch}
    )
    full_sess = session(build_full_clip_embedder(tmp_path / "f.onnx", seed=5))
    (full,) = full_sess.run(["image_embeds"], {"pixel_values": batch, **text_feeds(4)})
    np.testing.assert_allclose(vision, full, rtol=1e-5, atol=1e-6)
    (other,) = session(build_vision_embedder(tmp_path / "o.onnx", seed=6)).run(
        ["image_embeds"], {"pixel_values": batch}
    )
    assert not np.allclose(vision, other)


def test_size_and_dim_are_parameters(tmp_path: Path) -> None:
    sess = session(build_vision_embedder(tmp_path / "small.onnx", dim=32, image_size=64))
    assert sess.get_inputs()[0].shape[1:] == [3, 64, 64]
    (embeds,) = sess.run(None, {"pixel_values": pixels(2, size=64)})
    assert embeds.shape == (2, 32)
    with pytest.raises(ValueError):
        build_vision_embedder(tmp_path / "bad.onnx", image_size=100)


def test_vectors_follow_the_colour_layout(tmp_path: Path) -> None:
    sess = session(build_vision_embedder(tmp_path / "v.onnx"))
    base = pixels(1, seed=1)
    nudged = base + 0.05 * pixels(1, seed=2)
    unrelated = pixels(1, seed=9) + 1.0
    (vectors,) = sess.run(None, {"pixel_values": np.concatenate([base, nudged, unrelated])})
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > 0.99 > unit[0] @ unit[2]


def test_standins_say_what_they_are_in_their_metadata(tmp_path: Path) -> None:
    for build in (build_vision_embedder, build_full_clip_embedder):
        path = build(tmp_path / f"{build.__name__}.onnx")
        assert session(path).get_modelmeta().custom_metadata_map["logo_ann_standin"] == "true"
        assert is_standin(path)


def plain_model(path: Path, metadata: dict[str, str] | None = None) -> Path:
    node = helper.make_node("Identity", ["x"], ["y"])
    value = helper.make_tensor_value_info
    graph = helper.make_graph([node], "g", [value("x", TensorProto.FLOAT, [1])], [value("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    helper.set_model_props(model, metadata or {})
    onnx.save(model, str(path))
    return path


def test_metadata_reader_agrees_with_onnx(tmp_path: Path) -> None:
    expected = {"names": "{0: 'logo'}", "imgsz": "[640, 640]", "long": "é" * 300}
    path = plain_model(tmp_path / "m.onnx", expected)
    assert read_metadata(path) == {p.key: p.value for p in onnx.load(str(path)).metadata_props} == expected
    assert read_metadata(plain_model(tmp_path / "bare.onnx")) == {}


def test_mark_standin_adds_the_flag_once(tmp_path: Path) -> None:
    path = plain_model(tmp_path / "m.onnx", {"names": "x"})
    assert not is_standin(path)
    mark_standin(path)
    mark_standin(path)
    keys = [p.key for p in onnx.load(str(path)).metadata_props]
    assert keys.count("logo_ann_standin") == 1 and "names" in keys
    assert is_standin(path)


def test_ensure_standins_builds_only_missing_models(tmp_path: Path) -> None:
    real = plain_model(tmp_path / "detector.onnx")
    before = real.read_bytes()

    standins = ensure_standins(tmp_path)

    assert standins == {"detector": False, "embedder": True}
    assert real.read_bytes() == before
    names = [i.name for i in session(tmp_path / "embedder.onnx").get_inputs()]
    assert names == ["input_ids", "pixel_values", "attention_mask"]


def test_ensure_standins_builds_a_runnable_detector_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="offline.models.fetch"):
        assert ensure_standins(tmp_path) == {"detector": True, "embedder": True}
    assert "NOT meaningful" in caplog.text
    sess = session(tmp_path / "detector.onnx")
    assert sess.get_inputs()[0].name == "images" and sess.get_outputs()[0].name == "output0"
    assert ensure_standins(tmp_path) == {"detector": True, "embedder": True}
