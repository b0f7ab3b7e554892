"""Stand-in detector models with the production detector's tensor contract.

STAND-INS FOR TESTS AND OFFLINE DEMOS: their detections are not meaningful. The real detector is
Open Food Facts' ``universal-logo-detector`` (a trained YOLOv8); these hand-built graphs only share
its names, shapes and dtypes (input ``images`` FP32 ``[1,3,S,S]``, output ``output0`` FP32
``[1, 4+C, N]``) and write the same metadata keys as an Ultralytics export (``names``, ``imgsz``).

- ``build_constant_detector``: returns a given raw output whatever the image (it still consumes
  the input), so tests know exactly which detections to expect.
- ``build_blob_detector``: a real, cheap, hand-wired detector on YOLOv8's anchor grid (strides
  8/16/32, ``N = (S/8)² + (S/16)² + (S/32)²``, 8400 at 640). It marks "ink" (saturated colour or
  dark pixels; white, pale and the grey letterbox padding are not ink), averages it over 8-pixel
  cells, and for every anchor looks at a window around its cell: the box is centred on the ink's
  centroid in the window, its width and height come from the ink's spread (``sqrt(12·variance)``,
  exact for a solid rectangle). The score is high when the centroid falls in the anchor's own cell,
  the blob fits inside the window, and the ink fills its box. It finds isolated coloured or dark
  shapes on light backgrounds (a coloured rectangle, a disc, a word printed on a pale package).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 7  # loadable by every onnxruntime and Triton release in use
STRIDES = (8, 16, 32)
# window per stride, in 8-pixel cells (72, 144 and 288 pixels): the largest blob each scale can fit
WINDOW_CELLS = {8: 9, 16: 18, 32: 36}
BASE = 8
DESCRIPTION = "logo-ann stand-in detector for tests and demos; results are not meaningful"


def anchor_count(input_size: int) -> int:
    return sum((input_size // stride) ** 2 for stride in STRIDES)


def ultralytics_metadata(names: Sequence[str], input_size: int) -> dict[str, str]:
    """Metadata keys an Ultralytics export writes, with the stand-in's values."""
    return {
        "names": repr(dict(enumerate(names))),
        "imgsz": repr([input_size, input_size]),
        "stride": "32",
        "task": "detect",
        "batch": "1",
        "description": DESCRIPTION,
        "author": "logo-ann",
    }


def _save(graph: onnx.GraphProto, path: str | Path, metadata: Mapping[str, str]) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="logo-ann")
    model.ir_version = IR_VERSION
    helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model, full_check=True)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    return target


def _input(input_size: int | None) -> onnx.ValueInfoProto:
    dims: list[int | str] = [1, 3, input_size, input_size] if input_size else ["batch", 3, "height", "width"]
    return helper.make_tensor_value_info("images", TensorProto.FLOAT, dims)


def build_constant_detector(
    path: str | Path,
    raw_output: np.ndarray,
    input_size: int | None = 640,
    *,
    names: Sequence[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """A model whose ``output0`` is always ``raw_output`` (``[1, 4+C, N]``).

    ``input_size=None`` declares a dynamic ``[batch, 3, height, width]`` input. Metadata defaults
    to Ultralytics-style ``names`` (``names`` or "object"/"class_i") and ``imgsz``; pass
    ``metadata`` to replace it entirely (``{}`` for none).
    """
    raw = np.ascontiguousarray(raw_output, dtype=np.float32)
    if raw.ndim != 3 or raw.shape[0] != 1 or raw.shape[1] < 5:
        raise ValueError(f"raw_output must be [1, 4+C, N], got {raw.shape}")
    classes = raw.shape[1] - 4
    nodes = [
        helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["constant", "nothing"], ["output0"]),
    ]
    initializers = [numpy_helper.from_array(raw, "constant"), numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    output = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(raw.shape))
    graph = helper.make_graph(nodes, "constant_detector", [_input(input_size)], [output], initializers)
    if metadata is None:
        labels = list(names) if names else (["object"] if classes == 1 else [f"class_{i}" for i in range(classes)])
        metadata = ultralytics_metadata(labels, input_size or 640)
        if input_size is None:
            metadata.pop("imgsz")
    return _save(graph, path, metadata)


class _Graph:
    """A tiny builder: named constants and nodes, unique names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, value: float | np.ndarray) -> str:
        """A constant: float32 unless ``value`` is an integer array (Slice/Reshape indices)."""
        self._count += 1
        name = f"c{self._count}"
        array = np.asarray(value)
        array = array if array.dtype == np.int64 else array.astype(np.float32)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        self._count += 1
        name = f"{op_type.lower()}{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], **attributes))
        return name

    def clip01(self, value: str) -> str:
        return self.op("Clip", value, self.const(0.0), self.const(1.0))

    def affine(self, value: str, scale: float, offset: float) -> str:
        return self.op("Add", self.op("Mul", value, self.const(scale)), self.const(offset))


def _ink(g: _Graph) -> str:
    """Per pixel: 1 for saturated colour or dark ink, 0 for white, pale colours and mid grey."""
    saturation = g.op("Sub", g.op("ReduceMax", "images", axes=[1]), g.op("ReduceMin", "images", axes=[1]))
    darkness = g.affine(g.op("ReduceMean", "images", axes=[1]), -1 / 0.45, 1.0)
    return g.clip01(g.affine(g.op("Max", saturation, darkness), 1 / 0.35, -0.25 / 0.35))


def _moments(g: _Graph, ink: str, input_size: int) -> str:
    """Per 8-pixel cell: ink, ink·x, ink·y, ink·x², ink·y² stacked as 5 channels."""
    cells = input_size // BASE
    centres = (np.arange(cells, dtype=np.float32) + 0.5) * BASE
    xs, ys = g.const(centres.reshape(1, 1, 1, cells)), g.const(centres.reshape(1, 1, cells, 1))
    base = g.op("AveragePool", ink, kernel_shape=[BASE, BASE], strides=[BASE, BASE])
    ink_x, ink_y = g.op("Mul", base, xs), g.op("Mul", base, ys)
    return g.op("Concat", base, ink_x, ink_y, g.op("Mul", ink_x, xs), g.op("Mul", ink_y, ys), axis=1)


def _head(g: _Graph, moments: str, stride: int, input_size: int) -> str:
    """``[1, 5, (S/stride)²]``: cx, cy, w, h, score for every anchor of one stride."""
    factor, window = stride // BASE, WINDOW_CELLS[stride]
    pad = (window - factor) // 2
    pooled = g.op(
        "AveragePool",
        moments,
        kernel_shape=[window, window],
        strides=[factor, factor],
        pads=[pad, pad, pad, pad],
        count_include_pad=1,
    )
    one = g.const(np.array([1], np.int64))
    mass, sx, sy, sxx, syy = (
        g.op("Slice", pooled, g.const(np.array([i], np.int64)), g.const(np.array([i + 1], np.int64)), one)
        for i in range(5)
    )
    denominator = g.op("Add", mass, g.const(1e-6))
    cx, cy = g.op("Div", sx, denominator), g.op("Div", sy, denominator)
    spread = []
    for second, first in ((sxx, cx), (syy, cy)):
        variance = g.op("Sub", g.op("Div", second, denominator), g.op("Mul", first, first))
        variance = g.op("Relu", g.op("Sub", variance, g.const(BASE * BASE / 12)))  # Sheppard's correction
        spread.append(g.op("Sqrt", g.op("Mul", variance, g.const(12.0))))
    width, height = spread
    score = _score(g, (mass, cx, cy, width, height), stride, input_size, window * BASE)
    stacked = g.op("Concat", cx, cy, width, height, score, axis=1)
    cells = (input_size // stride) ** 2
    return g.op("Reshape", stacked, g.const(np.array([1, 5, cells], np.int64)))


def _score(g: _Graph, parts: tuple[str, str, str, str, str], stride: int, input_size: int, span: int) -> str:
    mass, cx, cy, width, height = parts
    cells = input_size // stride
    centres = (np.arange(cells, dtype=np.float32) + 0.5) * stride
    dx = g.op("Abs", g.op("Sub", cx, g.const(centres.reshape(1, 1, 1, cells))))
    dy = g.op("Abs", g.op("Sub", cy, g.const(centres.reshape(1, 1, cells, 1))))
    centred = g.clip01(g.affine(g.op("Max", dx, dy), -2.0 / stride, 2.0))
    contained = g.clip01(g.affine(g.op("Max", width, height), -1 / (0.2 * span), 4.0))
    ink_area = g.op("Mul", mass, g.const(float(span * span)))
    fill = g.op("Div", ink_area, g.op("Add", g.op("Mul", width, height), g.const(1e-6)))
    filled = g.clip01(g.affine(fill, 4.0, 0.0))
    enough = g.clip01(g.affine(ink_area, 1 / 64, -0.5))
    quality = g.op("Mul", g.op("Mul", centred, contained), g.op("Mul", filled, enough))
    return g.op("Sigmoid", g.affine(quality, 7.0, -4.5))


def build_blob_detector(path: str | Path, input_size: int = 640) -> Path:
    """A YOLOv8-shaped one-class detector of coloured or dark blobs (see the module docstring)."""
    if input_size % 32 or input_size < 64:
        raise ValueError(f"input_size must be a multiple of 32, at least 64; got {input_size}")
    g = _Graph()
    moments = _moments(g, _ink(g), input_size)
    heads = [_head(g, moments, stride, input_size) for stride in STRIDES]
    g.nodes.append(helper.make_node("Concat", heads, ["output0"], axis=2))
    output = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, anchor_count(input_size)])
    graph = helper.make_graph(g.nodes, "blob_detector", [_input(input_size)], [output], g.initializers)
    return _save(graph, path, ultralytics_metadata(["object"], input_size))
