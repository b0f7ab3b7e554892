"""OnnxSession against small ONNX models built here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from common.adapters.onnx_session import OnnxSession
from common.errors import ModelError
from offline.models.standin_detector import build_constant_detector


@pytest.fixture
def raw() -> np.ndarray:
    return np.arange(2 * 6 * 7, dtype=np.float32).reshape(1, 6, 14)


def test_fixed_model_reports_its_contract(tmp_path: Path, raw: np.ndarray) -> None:
    path = build_constant_detector(tmp_path / "det.onnx", raw, input_size=96, names=["a", "b"])
    session = OnnxSession(path)
    assert session.version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert session.max_batch_size == 1
    (spec,) = session.inputs()
    assert (spec.name, spec.shape, spec.dtype) == ("images", (1, 3, 96, 96), "float32")
    (out,) = session.outputs()
    assert (out.name, out.shape, out.dtype) == ("output0", (1, 6, 14), "float32")
    assert session.metadata()["names"] == "{0: 'a', 1: 'b'}"
    assert session.metadata()["imgsz"] == "[96, 96]"


def test_run_returns_the_model_output(tmp_path: Path, raw: np.ndarray) -> None:
    session = OnnxSession(build_constant_detector(tmp_path / "det.onnx", raw, input_size=32))
    image = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    (result,) = session.run(None, {"images": image})
    np.testing.assert_array_equal(result, raw)
    (named,) = session.run(["output0"], {"images": image})
    np.testing.assert_array_equal(named, raw)


def test_dynamic_batch_means_no_limit(tmp_path: Path, raw: np.ndarray) -> None:
    session = OnnxSession(build_constant_detector(tmp_path / "det.onnx", raw, input_size=None))
    assert session.max_batch_size == 0
    assert session.inputs()[0].shape == ("batch", 3, "height", "width")
    assert "imgsz" not in session.metadata()


def test_integer_inputs_report_numpy_dtype_names(tmp_path: Path) -> None:
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [None, 2])
    out = helper.make_tensor_value_info("same", TensorProto.INT64, [None, 2])
    graph = helper.make_graph([helper.make_node("Identity", ["input_ids"], ["same"])], "g", [ids], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.save(model, str(tmp_path / "ids.onnx"))
    session = OnnxSession(tmp_path / "ids.onnx", threads=1)
    assert session.inputs()[0].dtype == "int64"
    assert session.inputs()[0].shape[1] == 2
    assert session.max_batch_size == 0
    feed = np.array([[49406, 49407]] * 3, dtype=np.int64)
    np.testing.assert_array_equal(session.run(None, {"input_ids": feed})[0], feed)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        OnnxSession(tmp_path / "absent.onnx")


def test_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        OnnxSession(path)


def test_wrong_feeds_are_a_model_error(tmp_path: Path, raw: np.ndarray) -> None:
    session = OnnxSession(build_constant_detector(tmp_path / "det.onnx", raw, input_size=32))
    with pytest.raises(ModelError, match="expects inputs"):
        session.run(None, {"pixels": np.zeros((1, 3, 32, 32), np.float32)})
    with pytest.raises(ModelError, match="rejected its inputs"):
        session.run(None, {"images": np.zeros((1, 3, 16, 16), np.float32)})
