"""Count multiply-accumulates of Conv and MatMul nodes of an ONNX graph (batch 1).

Shapes come from ``onnx.shape_inference`` with the batch axis fixed to 1; other ops (norms,
activations, softmax) are cheap next to these and left out, as the published GFLOPs figures do.
"""

from __future__ import annotations

import math

import onnx
from onnx import shape_inference


def _batch_one(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for value in copy.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    return copy


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    inferred = shape_inference.infer_shapes(_batch_one(model), data_prop=True)
    shapes: dict[str, list[int]] = {}
    values = list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
    for value in values:
        shapes[value.name] = [d.dim_value for d in value.type.tensor_type.shape.dim]
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def count_macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates of one inference at batch 1."""
    shapes = _shapes(model)
    total = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            weight, out = shapes[node.input[1]], shapes[node.output[0]]
            total += math.prod(out) * math.prod(weight[1:])
        elif node.op_type == "MatMul":
            a, out = shapes[node.input[0]], shapes[node.output[0]]
            total += math.prod(out) * a[-1]
    return total
