"""The GPU benchmark's pieces that run without a GPU: the float16 copy and the row's fallbacks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench import gpu


def small_model(with_constant: bool = False) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32) / 3, "w"),
        numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b"),
        numpy_helper.from_array(np.ones(16, np.float32), "gamma"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["h2"]),
        helper.make_node("LayerNormalization", ["h2", "gamma"], ["h3"], axis=-1),
        helper.make_node("Softmax", ["h3"], ["y"], axis=-1),
    ]
    if with_constant:
        nodes.insert(0, helper.make_node("Constant", [], ["k"], value_float=1.0))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 16])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_float16_copy_keeps_float32_io_and_the_result() -> None:
    model = small_model()
    half = gpu.to_float16(model)
    onnx.checker.check_model(half)
    assert {i.data_type for i in half.graph.initializer} == {TensorProto.FLOAT16}
    assert half.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert half.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    full, reduced = run(model, x), run(half, x)
    assert reduced.dtype == np.float32
    np.testing.assert_allclose(reduced, full, atol=3e-3)  # float16 keeps ~3 decimal digits
    assert model.graph.initializer[0].data_type == TensorProto.FLOAT  # the original is untouched


def test_float16_copy_refuses_float_constants_it_cannot_convert() -> None:
    with pytest.raises(ValueError, match="Constant"):
        gpu.to_float16(small_model(with_constant=True))


def test_row_reports_the_last_device_run_when_this_machine_has_no_gpu(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(gpu, "available_gpu_providers", lambda: [])
    monkeypatch.setattr(gpu, "DEVICE_RECORDS", tmp_path / "gpu_device.json")
    (empty,) = gpu.measure()
    assert empty["skipped"] and "no earlier device run" in empty["reason"]
    stored = [{"benchmark": "gpu", "device": "Some GPU, 1, 80 GiB", "batch_size": 32, "crops_per_s": 100.0}]
    (tmp_path / "gpu_device.json").write_text(json.dumps(stored))
    (record,) = gpu.measure()
    assert record["crops_per_s"] == 100.0 and "Some GPU" in record["source"]
