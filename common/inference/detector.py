"""The YOLOv8 logo detector: letterbox, run, decode, NMS, back to relative boxes.

Works with any Ultralytics YOLOv8 detection export: input ``images`` FP32 ``[1,3,H,W]`` and output
``output0`` ``[1, 4+C, N]`` (per anchor ``cx, cy, w, h`` in letterboxed pixels, then C sigmoid
class scores). The input size comes from the model's declared shape, else its ``imgsz`` metadata,
else 640; the class names from configuration, else the ``names`` metadata, else defaults.

The resize is bilinear with half-pixel centres and no antialiasing (OpenCV's ``INTER_LINEAR``),
computed in float: the preprocessing Ultralytics and Robotoff run at inference time.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from common.domain import Box, Detection
from common.errors import ModelError
from common.ports.model_session import ModelSession, TensorSpec, is_standin

logger = logging.getLogger(__name__)

DEFAULT_SIZE = 640
PAD_VALUE = 114.0


def letterbox(image: Image.Image, size: tuple[int, int]) -> tuple[np.ndarray, float, float, float]:
    """Resize keeping the aspect ratio, centre on grey 114, scale to [0, 1].

    ``size`` is ``(height, width)``. Returns ``(tensor [1,3,H,W] float32, scale, pad_x, pad_y)``:
    a pixel ``(x, y)`` of the image lands at ``(x * scale + pad_x, y * scale + pad_y)``.
    """
    target_h, target_w = size
    width, height = image.size
    scale = min(target_h / height, target_w / width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    pad_x, pad_y = round((target_w - new_w) / 2 - 0.1), round((target_h - new_h) / 2 - 0.1)
    pixels = np.asarray(image.convert("RGB"))
    tensor = np.full((1, 3, target_h, target_w), np.float32(PAD_VALUE) / np.float32(255.0), dtype=np.float32)
    resized = resize_bilinear(pixels, new_h, new_w)
    resized /= np.float32(255.0)
    tensor[0, :, pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized.transpose(2, 0, 1)
    return tensor, scale, float(pad_x), float(pad_y)


def _taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of a half-pixel-centred linear resize along one axis."""
    position = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    position = np.clip(position, 0.0, src - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, src - 1)
    return low, high, (position - low).astype(np.float32)


def resize_bilinear(pixels: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """Resize an ``[H, W, C]`` array to ``[new_h, new_w, C]`` float32 (OpenCV ``INTER_LINEAR``)."""
    y0, y1, wy = _taps(pixels.shape[0], new_h)
    x0, x1, wx = _taps(pixels.shape[1], new_w)
    source = pixels.astype(np.float32)
    top = source[y0]
    rows = top + (source[y1] - top) * wy[:, None, None]
    left = rows[:, x0]
    right = rows[:, x1]
    right -= left
    right *= wx[None, :, None]
    right += left
    blended: np.ndarray = right
    return blended


def decode_yolo(output: np.ndarray, score_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best class per anchor, kept when its score is above the threshold.

    ``output`` is ``[1, 4+C, N]``. Returns ``(boxes [K,4] x1,y1,x2,y2, scores [K], class_ids [K])``.
    """
    if output.ndim != 3 or output.shape[0] != 1 or output.shape[1] < 5:
        raise ModelError(f"detector output must be [1, 4+C, N], got {list(output.shape)}")
    rows = output[0].astype(np.float32, copy=False)
    class_scores = rows[4:]
    class_ids = class_scores.argmax(axis=0)
    scores = class_scores[class_ids, np.arange(rows.shape[1])]
    keep = (scores > score_threshold) & np.isfinite(rows[:4]).all(axis=0)
    cx, cy, w, h = rows[:4, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return boxes, scores[keep], class_ids[keep]


def ious(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one ``(x1, y1, x2, y2)`` box with each row of ``others`` (the
    project's one IoU; any consistent corner order, such as ``Box.as_list()``'s, gives the same
    values); no overlap is 0."""
    box = np.asarray(box, dtype=np.float64)
    others = np.asarray(others, dtype=np.float64).reshape(-1, 4)
    area = max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
    areas = np.clip(others[:, 2] - others[:, 0], 0, None) * np.clip(others[:, 3] - others[:, 1], 0, None)
    inter_w = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    inter_h = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = inter_w * inter_h
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-12))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy class-agnostic non-maximum suppression; kept indices by descending score.

    A box is suppressed when its IoU with a kept, higher-scoring box is above ``iou``.
    """
    corners = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-scores, kind="stable")
    kept: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(int(best))
        order = rest[ious(corners[best], corners[rest]) <= iou]
    return np.asarray(kept, dtype=np.intp)


def parse_imgsz(value: str | None) -> tuple[int, int] | None:
    """Ultralytics ``imgsz`` metadata (``"[640, 640]"`` or ``"640"``) as ``(height, width)``."""
    try:
        parsed = ast.literal_eval(value) if value else None
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, int) and parsed > 0:
        return parsed, parsed
    if isinstance(parsed, (list, tuple)) and len(parsed) == 2 and all(isinstance(v, int) and v > 0 for v in parsed):
        return int(parsed[0]), int(parsed[1])
    return None


def parse_names(value: str | None) -> list[str] | None:
    """Ultralytics ``names`` metadata (``"{0: 'a', 1: 'b'}"``) as a list ordered by class id."""
    try:
        parsed = ast.literal_eval(value) if value else None
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, dict) and sorted(parsed) == list(range(len(parsed))):
        return [str(parsed[i]) for i in range(len(parsed))]
    if isinstance(parsed, (list, tuple)):
        return [str(name) for name in parsed]
    return None


def default_names(count: int) -> list[str]:
    return ["object"] if count == 1 else [f"class_{i}" for i in range(count)]


def _pick(specs: Sequence[TensorSpec], name: str, role: str) -> TensorSpec:
    if not specs:
        raise ModelError(f"detector model declares no {role}")
    return next((spec for spec in specs if spec.name == name), specs[0])


class Detector:
    """Finds logos in an image with a YOLOv8 model behind any ``ModelSession``."""

    def __init__(
        self,
        session: ModelSession,
        *,
        score_threshold: float,
        nms_iou: float,
        max_detections: int,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self._session = session
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.max_detections = max_detections
        self._input = _pick(session.inputs(), "images", "input")
        self._output = _pick(session.outputs(), "output0", "output")
        metadata = session.metadata()
        self.input_size = self._input_size(metadata)
        self._configured_names = list(class_names) if class_names else None
        self._metadata_names = parse_names(metadata.get("names"))
        channels = self._output.shape[1] if len(self._output.shape) == 3 else None
        self.class_names: list[str] | None = None
        if isinstance(channels, int):
            self.class_names = self._names_for(channels - 4)

    @property
    def version(self) -> str:
        return self._session.version

    @property
    def standin(self) -> bool:
        return is_standin(self._session.metadata())

    def _input_size(self, metadata: Mapping[str, str]) -> tuple[int, int]:
        shape = self._input.shape
        if len(shape) != 4:
            raise ModelError(f"detector input {self._input.name} must be [1,3,H,W], got {list(shape)}")
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            return shape[2], shape[3]
        return parse_imgsz(metadata.get("imgsz")) or (DEFAULT_SIZE, DEFAULT_SIZE)

    def _names_for(self, count: int) -> list[str]:
        if count < 1:
            raise ModelError(f"detector output has {count + 4} channels: needs 4 box values and at least 1 class")
        if self._configured_names is not None:
            if len(self._configured_names) != count:
                raise ModelError(f"{len(self._configured_names)} class names configured, model has {count} classes")
            return self._configured_names
        if self._metadata_names is not None and len(self._metadata_names) == count:
            return self._metadata_names
        return default_names(count)

    def detect(self, image: Image.Image) -> list[Detection]:
        """Logos in ``image``, best first, at most ``max_detections``."""
        tensor, scale, pad_x, pad_y = letterbox(image, self.input_size)
        feed = tensor.astype(self._input.dtype) if self._input.dtype in ("float16", "float64") else tensor
        (raw,) = self._session.run([self._output.name], {self._input.name: feed})
        output = np.asarray(raw)
        boxes, scores, class_ids = decode_yolo(output, self.score_threshold)
        names = self.class_names or self._names_for(output.shape[1] - 4)
        keep = nms(boxes, scores, self.nms_iou)
        return self._to_detections(boxes[keep], scores[keep], class_ids[keep], names, image.size, (scale, pad_x, pad_y))

    def _to_detections(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        class_ids: np.ndarray,
        names: Sequence[str],
        image_size: tuple[int, int],
        transform: tuple[float, float, float],
    ) -> list[Detection]:
        width, height = image_size
        scale, pad_x, pad_y = transform
        pixels = (boxes.astype(np.float64) - [pad_x, pad_y, pad_x, pad_y]) / scale
        pixels = np.clip(pixels, 0.0, [width, height, width, height])
        relative = pixels / [width, height, width, height]
        detections: list[Detection] = []
        for (x1, y1, x2, y2), score, class_id in zip(relative, scores, class_ids, strict=True):
            if x2 <= x1 or y2 <= y1:
                continue
            box = Box(y_min=float(y1), x_min=float(x1), y_max=float(y2), x_max=float(x2))
            detections.append(Detection(box=box, score=float(score), label=names[int(class_id)]))
            if len(detections) >= self.max_detections:
                break
        return detections
