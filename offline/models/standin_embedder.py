"""Stand-in CLIP embedders: tiny ONNX graphs with the production tensor names, shapes and dtypes.

These are NOT CLIP. Their vectors are a fixed random projection of the crop's coarse colour
layout (an 8×8 average-pooled thumbnail) and per-channel mean and spread, so similar-looking
crops get similar vectors, which is enough to exercise the pipeline, the index and the search
API end to end. Search results made with them are not meaningful. Every stand-in carries the
model metadata ``logo_ann_standin=true`` so the application can say so loudly.

Two exports are mirrored:

- ``build_vision_embedder``: ``pixel_values`` FP32 ``[N, 3, S, S]`` → ``image_embeds`` FP32
  ``[N, dim]`` (a vision-only CLIP export);
- ``build_full_clip_embedder``: inputs ``input_ids`` INT64 ``[N, T]``, ``pixel_values`` and
  ``attention_mask`` INT64 ``[N, T]``; outputs ``logits_per_image``, ``logits_per_text``,
  ``text_embeds`` and ``image_embeds`` (Robotoff's export of the full CLIP model).

Building needs the ``onnx`` package; running needs only onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from common.ports.model_session import STANDIN_METADATA_KEY

GRID = 8  # the thumbnail is GRID × GRID per channel
OPSET = 17
IR_VERSION = 9  # readable by every onnxruntime release the project supports


def _check(dim: int, image_size: int) -> None:
    if dim < 1:
        raise ValueError(f"dim must be positive, got {dim}")
    if image_size < GRID or image_size % GRID:
        raise ValueError(f"image_size must be a positive multiple of {GRID}, got {image_size}")


def _image_nodes(dim: int, image_size: int, seed: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``pixel_values`` → ``image_embeds``: pooled colour layout + channel stats, projected."""
    features = 3 * GRID * GRID + 6
    rng = np.random.default_rng(seed)
    projection = (rng.standard_normal((features, dim)) / np.sqrt(features)).astype(np.float32)
    # a small offset keeps a flat mid-grey crop (all features zero) from mapping to a zero vector
    offset = (0.05 * rng.standard_normal(dim)).astype(np.float32)
    cell = image_size // GRID
    nodes = [
        helper.make_node("AveragePool", ["pixel_values"], ["grid"], kernel_shape=[cell, cell], strides=[cell, cell]),
        helper.make_node("Flatten", ["grid"], ["layout"], axis=1),
        helper.make_node("ReduceMean", ["pixel_values"], ["mean4"], axes=[2, 3], keepdims=1),
        helper.make_node("Sub", ["pixel_values", "mean4"], ["centred"]),
        helper.make_node("Mul", ["centred", "centred"], ["squared"]),
        helper.make_node("ReduceMean", ["squared"], ["variance"], axes=[2, 3], keepdims=0),
        helper.make_node("Sqrt", ["variance"], ["spread"]),
        helper.make_node("Flatten", ["mean4"], ["mean"], axis=1),
        helper.make_node("Concat", ["layout", "mean", "spread"], ["features"], axis=1),
        helper.make_node("MatMul", ["features", "projection"], ["projected"]),
        helper.make_node("Add", ["projected", "offset"], ["image_embeds"]),
    ]
    weights = [numpy_helper.from_array(projection, "projection"), numpy_helper.from_array(offset, "offset")]
    return nodes, weights


def _text_nodes(dim: int, seed: int) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``input_ids`` and ``attention_mask`` → ``text_embeds``: masked mean token id, projected."""
    rng = np.random.default_rng(seed + 1)
    direction = rng.standard_normal((1, dim)).astype(np.float32)
    scale = np.array(1.0 / 49408.0, dtype=np.float32)  # CLIP's vocabulary size
    nodes = [
        helper.make_node("Mul", ["input_ids", "attention_mask"], ["kept_ids"]),
        helper.make_node("Cast", ["kept_ids"], ["kept_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["kept_float", "token_scale"], ["scaled_ids"]),
        helper.make_node("ReduceMean", ["scaled_ids"], ["text_feature"], axes=[1], keepdims=1),
        helper.make_node("MatMul", ["text_feature", "text_direction"], ["text_embeds"]),
    ]
    weights = [numpy_helper.from_array(direction, "text_direction"), numpy_helper.from_array(scale, "token_scale")]
    return nodes, weights


def _pixel_input(image_size: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, image_size, image_size])


def _save(graph: onnx.GraphProto, path: str | Path, description: str, dim: int, image_size: int) -> Path:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="logo-ann", ir_version=IR_VERSION
    )
    model.doc_string = description
    helper.set_model_props(
        model,
        {STANDIN_METADATA_KEY: "true", "description": description, "dim": str(dim), "image_size": str(image_size)},
    )
    onnx.checker.check_model(model, full_check=True)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    return target


def build_vision_embedder(path: str | Path, dim: int = 512, image_size: int = 224, seed: int = 0) -> Path:
    """Write a stand-in vision-only CLIP export to ``path``; returns the path."""
    _check(dim, image_size)
    nodes, weights = _image_nodes(dim, image_size, seed)
    graph = helper.make_graph(
        nodes,
        "standin_clip_vision",
        [_pixel_input(image_size)],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", dim])],
        initializer=weights,
    )
    return _save(graph, path, "Stand-in CLIP vision embedder: results are not meaningful.", dim, image_size)


def build_full_clip_embedder(path: str | Path, dim: int = 512, image_size: int = 224, seed: int = 0) -> Path:
    """Write a stand-in of Robotoff's full CLIP export to ``path``; returns the path."""
    _check(dim, image_size)
    image_nodes, image_weights = _image_nodes(dim, image_size, seed)
    text_nodes, text_weights = _text_nodes(dim, seed)
    logits = [
        helper.make_node("Transpose", ["text_embeds"], ["text_embeds_t"], perm=[1, 0]),
        helper.make_node("MatMul", ["image_embeds", "text_embeds_t"], ["logits_per_image"]),
        helper.make_node("Transpose", ["logits_per_image"], ["logits_per_text"], perm=[1, 0]),
    ]
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])
    outputs = [
        helper.make_tensor_value_info("logits_per_image", TensorProto.FLOAT, ["batch", "batch"]),
        helper.make_tensor_value_info("logits_per_text", TensorProto.FLOAT, ["batch", "batch"]),
        helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", dim]),
        helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", dim]),
    ]
    graph = helper.make_graph(
        image_nodes + text_nodes + logits,
        "standin_clip_full",
        [ids, _pixel_input(image_size), mask],
        outputs,
        initializer=image_weights + text_weights,
    )
    return _save(graph, path, "Stand-in full CLIP embedder: results are not meaningful.", dim, image_size)
