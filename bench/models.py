"""Stand-in models that cost what the production ones cost, built with ``onnx.helper``.

* ``embedder.onnx``: the CLIP ViT-B/32 image tower (32×32 patches → 49+1 tokens × 768, 12 pre-LN
  layers of 12 heads and a 3072 QuickGELU MLP, post-LN on the class token, projection to 512),
  ``pixel_values [N,3,224,224]`` → ``image_embeds [N,512]``, about 4.4 GMACs per image.
* ``detector.onnx``: a YOLOv8n-sized convolutional detector at 640 (SiLU conv stages, three
  heads at strides 8/16/32 → 8400 anchors), ``images [1,3,640,640]`` → ``output0 [1,5,8400]``.

Weights are random (fixed seed), scaled so activations stay finite. Built once under
``bench/models/``.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from bench.macs import count_macs

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent / "models"
OPSET = 17
WIDTH, HEADS, MLP, LAYERS, PATCH, IMAGE, EMBED = 768, 12, 3072, 12, 32, 224, 512
TOKENS = (IMAGE // PATCH) ** 2 + 1


class Graph:
    """Collects nodes and random initialisers under unique names."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, array: np.ndarray, stem: str = "c") -> str:
        name = self.name(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, shape: tuple[int, ...], fan_in: int, gain: float = 1.0) -> str:
        data = self.rng.standard_normal(shape, dtype=np.float32) * np.float32(gain / np.sqrt(fan_in))
        return self.const(data, "w")

    def op(self, kind: str, inputs: list[str], **attrs: object) -> str:
        out = self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def model(
        self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto], name: str
    ) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        return model


# --- CLIP ViT-B/32 image tower -----------------------------------------------------------------
def _layer_norm(g: Graph, x: str) -> str:
    return g.op(
        "LayerNormalization",
        [x, g.const(np.ones(WIDTH, np.float32)), g.const(np.zeros(WIDTH, np.float32))],
        axis=-1,
        epsilon=1e-5,
    )


def _linear(g: Graph, x: str, fan_in: int, fan_out: int) -> str:
    return g.op(
        "Add", [g.op("MatMul", [x, g.weight((fan_in, fan_out), fan_in)]), g.const(np.zeros(fan_out, np.float32))]
    )


def _attention(g: Graph, x: str) -> str:
    head = WIDTH // HEADS
    split = [
        g.op(
            "Transpose",
            [g.op("Reshape", [_linear(g, x, WIDTH, WIDTH), g.const(np.array([0, TOKENS, HEADS, head]))])],
            perm=[0, 2, 1, 3],
        )
        for _ in range(3)
    ]
    q, k, v = split
    scores = g.op(
        "Mul",
        [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), g.const(np.array(head**-0.5, np.float32))],
    )
    mixed = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
    merged = g.op("Reshape", [g.op("Transpose", [mixed], perm=[0, 2, 1, 3]), g.const(np.array([0, TOKENS, WIDTH]))])
    return _linear(g, merged, WIDTH, WIDTH)


def _block(g: Graph, x: str) -> str:
    x = g.op("Add", [x, _attention(g, _layer_norm(g, x))])
    hidden = _linear(g, _layer_norm(g, x), WIDTH, MLP)
    gelu = g.op("Mul", [hidden, g.op("Sigmoid", [g.op("Mul", [hidden, g.const(np.array(1.702, np.float32))])])])
    return g.op("Add", [x, _linear(g, gelu, MLP, WIDTH)])


def build_embedder(seed: int = 0) -> onnx.ModelProto:
    g = Graph(seed)
    patches = g.op(
        "Conv", ["pixel_values", g.weight((WIDTH, 3, PATCH, PATCH), 3 * PATCH * PATCH)], strides=[PATCH, PATCH]
    )
    tokens = g.op("Transpose", [g.op("Reshape", [patches, g.const(np.array([0, WIDTH, -1]))])], perm=[0, 2, 1])
    batch = g.op("Slice", [g.op("Shape", ["pixel_values"]), g.const(np.array([0])), g.const(np.array([1]))])
    cls_shape = g.op("Concat", [batch, g.const(np.array([1, WIDTH]))], axis=0)
    cls = g.op("Expand", [g.weight((1, 1, WIDTH), 1, 0.02), cls_shape])
    x = g.op("Add", [g.op("Concat", [cls, tokens], axis=1), g.weight((1, TOKENS, WIDTH), 1, 0.02)])
    x = _layer_norm(g, x)
    for _ in range(LAYERS):
        x = _block(g, x)
    first = g.op("Gather", [x, g.const(np.array(0))], axis=1)
    out = g.op("MatMul", [_layer_norm(g, first), g.weight((WIDTH, EMBED), WIDTH)])
    g.nodes[-1].output[0] = "image_embeds"
    del out
    inputs = [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, IMAGE, IMAGE])]
    outputs = [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", EMBED])]
    return g.model(inputs, outputs, "clip_vit_b32_standin")


# --- YOLOv8n-sized detector --------------------------------------------------------------------
STAGES = ((16, 1), (32, 3), (64, 4), (128, 3), (256, 2))  # (channels, 3×3 convs after the stride-2 conv)


def _conv(g: Graph, x: str, c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> str:
    y = g.op(
        "Conv",
        [x, g.weight((c_out, c_in, kernel, kernel), c_in * kernel * kernel, 1.6), g.const(np.zeros(c_out, np.float32))],
        strides=[stride, stride],
        pads=[kernel // 2] * 4,
    )
    return g.op("Mul", [y, g.op("Sigmoid", [y])])


def _head(g: Graph, x: str, channels: int, stride: int) -> tuple[str, str]:
    """(boxes [1,4,A] cx,cy,w,h in pixels, class logits [1,1,A]) of one scale."""
    y = _conv(g, _conv(g, x, channels, 64), 64, 64)
    raw = g.op("Reshape", [g.op("Conv", [y, g.weight((5, 64, 1, 1), 64)]), g.const(np.array([1, 5, -1]))])
    part = [
        g.op("Slice", [raw, g.const(np.array([a])), g.const(np.array([b])), g.const(np.array([1]))])
        for a, b in ((0, 2), (2, 4), (4, 5))
    ]
    centres = g.op("Mul", [g.op("Sigmoid", [part[0]]), g.const(np.array(640.0, np.float32))])
    sizes = g.op("Mul", [g.op("Sigmoid", [part[1]]), g.const(np.array(4.0 * stride, np.float32))])
    return g.op("Concat", [centres, sizes], axis=1), part[2]


def build_detector(seed: int = 0, class_bias: float = -4.0) -> onnx.ModelProto:
    """``class_bias`` shifts the class logit: it sets how many anchors pass the score threshold."""
    g = Graph(seed)
    x, c_in, features = "images", 3, []
    for stage, (channels, repeats) in enumerate(STAGES):
        x = _conv(g, x, c_in, channels, stride=2)
        for _ in range(repeats):
            x = _conv(g, x, channels, channels)
        c_in = channels
        if stage >= 2:
            features.append((x, channels, 2 ** (stage + 1)))
    heads = [_head(g, f, c, s) for f, c, s in features]
    boxes = g.op("Concat", [h[0] for h in heads], axis=2)
    logits = g.op("Concat", [h[1] for h in heads], axis=2)
    scores = g.op("Sigmoid", [g.op("Add", [logits, g.const(np.array(class_bias, np.float32))])])
    g.nodes.append(helper.make_node("Concat", [boxes, scores], ["output0"], axis=1))
    inputs = [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])]
    outputs = [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, 8400])]
    model = g.model(inputs, outputs, "yolov8n_standin")
    helper.set_model_props(model, {"names": "{0: 'logo'}", "imgsz": "[640, 640]"})
    return model


def calibrated_detector(threshold: float = 0.25, wanted: int = 12) -> onnx.ModelProto:
    """The detector with its class bias set so that about ``wanted`` anchors of a sample product
    photo score above ``threshold`` (random weights would otherwise find nothing or everything)."""
    import onnxruntime as ort

    from common.inference.detector import letterbox
    from offline.samples import draw_product

    probe = ort.InferenceSession(build_detector(class_bias=0.0).SerializeToString(), providers=["CPUExecutionProvider"])
    image, _ = draw_product(random.Random(0))
    scores = probe.run(None, {"images": letterbox(image, (640, 640))[0]})[0][0, 4]
    logits = np.log(scores / (1.0 - scores))
    target = float(np.log(threshold / (1.0 - threshold)))
    bias = target - float(np.sort(logits)[-wanted]) + 1e-3
    return build_detector(class_bias=bias)


def ensure(directory: Path = MODELS_DIR) -> dict[str, Path]:
    """Build the stand-ins once (cached by file name); returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "detector": directory / "detector-yolov8n-standin.onnx",
        "embedder": directory / "embedder-vitb32-standin.onnx",
    }
    for role, builder in (("detector", calibrated_detector), ("embedder", build_embedder)):
        if not paths[role].is_file():
            model = builder()
            onnx.checker.check_model(model)
            tmp = paths[role].with_suffix(".tmp")
            onnx.save(model, str(tmp))
            tmp.rename(paths[role])
            log.info("built %s: %.2f GMACs", paths[role].name, count_macs(model) / 1e9)
    return paths
