"""A uint8 front for any CLIP vision-tower export: the crop's normalisation moves into the graph.

The embedder normally sends float32 ``pixel_values`` of ``[N, 3, 224, 224]``: 602 KB per crop.
The wrapper takes the same tensor as uint8 (the resized 8-bit pixels, before the crop recipe's
scaling), 4× fewer bytes on the wire, and runs ``robotoff-v1``'s arithmetic inside the graph
with the same float32 operations in the same order (cast, ÷ 255, − mean, ÷ std), so it feeds
the tower exactly what the host would have: the vectors are the same.

``ensure_uint8_wrapper(models/embedder.onnx)`` writes ``models/embedder-u8.onnx`` (atomically,
rebuilt when the source changes: the source's sha256 is stored in the wrapper's metadata).
``logo-ann models prepare`` and ``logo-ann models fetch`` call it, for a vision-only export
(``pixel_values`` → ``image_embeds``) as for Robotoff's full CLIP graph (text inputs kept).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import ModelError
from common.files import write_atomically
from common.inference.embedder import CLIP_MEAN, CLIP_STD

log = logging.getLogger(__name__)

PIXELS = "pixel_values"
INNER = "pixel_values_normalised_in_graph"
WRAPPER_KEY = "logo_ann.uint8_wrapper"
SOURCE_KEY = "logo_ann.uint8_wrapper_source_sha256"
RECIPE = "robotoff-v1"


def wrapper_path(source: Path) -> Path:
    """``embedder.onnx`` → ``embedder-u8.onnx`` in the same folder."""
    return source.with_name(f"{source.stem}-u8{source.suffix}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _rename_uses(graph: Any, old: str, new: str) -> None:
    """Point every node input named ``old`` (subgraphs included) at ``new``."""
    import onnx

    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                _rename_uses(attribute.g, old, new)
            for sub in attribute.graphs:
                _rename_uses(sub, old, new)


def wrap_uint8(model: Any) -> Any:
    """A copy of ``model`` whose ``pixel_values`` input is uint8 and normalised in the graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    wrapped = onnx.ModelProto()
    wrapped.CopyFrom(model)
    graph = wrapped.graph
    pixels = next((i for i in graph.input if i.name == PIXELS), None)
    if pixels is None:
        raise ModelError(f"the model has no {PIXELS!r} input (inputs: {[i.name for i in graph.input]})")
    elem = pixels.type.tensor_type.elem_type
    if elem == TensorProto.UINT8:
        raise ModelError(f"{PIXELS!r} is already uint8: this model is a wrapper")
    if elem not in (TensorProto.FLOAT, TensorProto.FLOAT16):
        raise ModelError(f"{PIXELS!r} must be float32 or float16 to wrap, got {TensorProto.DataType.Name(elem)}")
    dims = pixels.type.tensor_type.shape.dim
    if len(dims) != 4 or (dims[1].HasField("dim_value") and dims[1].dim_value != 3):
        raise ModelError(f"{PIXELS!r} must be [N, 3, H, W] to wrap")
    _rename_uses(graph, PIXELS, INNER)
    pixels.type.tensor_type.elem_type = TensorProto.UINT8
    constants = {
        "u8_255": np.array(255.0, np.float32),
        "u8_mean": CLIP_MEAN.reshape(1, 3, 1, 1),
        "u8_std": CLIP_STD.reshape(1, 3, 1, 1),
    }
    graph.initializer.extend(numpy_helper.from_array(value, name) for name, value in constants.items())
    last = INNER if elem == TensorProto.FLOAT else "u8_normalised_f32"
    nodes = [
        helper.make_node("Cast", [PIXELS], ["u8_as_f32"], to=TensorProto.FLOAT, name="u8_cast"),
        helper.make_node("Div", ["u8_as_f32", "u8_255"], ["u8_unit"], name="u8_scale"),
        helper.make_node("Sub", ["u8_unit", "u8_mean"], ["u8_centred"], name="u8_centre"),
        helper.make_node("Div", ["u8_centred", "u8_std"], [last], name="u8_normalise"),
    ]
    if elem == TensorProto.FLOAT16:
        nodes.append(helper.make_node("Cast", [last], [INNER], to=TensorProto.FLOAT16, name="u8_to_f16"))
    old_nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old_nodes)
    helper.set_model_props(wrapped, {**{p.key: p.value for p in model.metadata_props}, WRAPPER_KEY: RECIPE})
    onnx.checker.check_model(wrapped)
    return wrapped


def _recorded_source(wrapper: Path) -> str | None:
    """The source sha256 an existing wrapper was built from (None if unreadable)."""
    import onnx

    try:
        props = {p.key: p.value for p in onnx.load(str(wrapper), load_external_data=False).metadata_props}
    except Exception:  # noqa: BLE001 - a damaged wrapper is simply rebuilt
        return None
    return props.get(SOURCE_KEY)


def ensure_uint8_wrapper(source: Path) -> Path:
    """Write (or keep, when it is current) the uint8 wrapper of the ONNX file ``source``."""
    import onnx

    source = Path(source)
    dest = wrapper_path(source)
    digest = _sha256(source)
    if dest.is_file() and _recorded_source(dest) == digest:
        return dest
    try:
        model = onnx.load(str(source))
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError (and others) on a bad file
        raise ModelError(f"{source} is not a readable ONNX model: {exc}") from exc
    wrapped = wrap_uint8(model)
    wrapped.metadata_props.add(key=SOURCE_KEY, value=digest)
    write_atomically(dest, lambda tmp: onnx.save(wrapped, str(tmp)))
    log.info("built the uint8-input wrapper %s from %s", dest, source.name)
    return dest
