"""The project's Detector on a real Ultralytics YOLOv8n export, checked against an OpenCV decoder.

The model is the one the ``nudenet`` package ships (``320n.onnx``: YOLOv8n, 18 classes, dynamic
input, ``imgsz`` and ``names`` metadata). It is AGPL-licensed and used here only from the installed
package, never copied into the repository. The reference decoder below shares no code with
``common.inference.detector``: OpenCV resizes and pads, ``cv2.dnn.blobFromImage`` builds the tensor,
onnxruntime runs the model directly and ``cv2.dnn.NMSBoxes`` suppresses.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from common.adapters.onnx_session import OnnxSession
from common.inference.detector import Detector

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")
ort = pytest.importorskip("onnxruntime")
try:
    import nudenet
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip("nudenet is not installed: no real YOLOv8 export to test against", allow_module_level=True)

MODEL = Path(nudenet.__file__).parent / "320n.onnx"
SIZE = 320
SCORE, IOU = 0.05, 0.7


@dataclasses.dataclass(frozen=True)
class Reference:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels
    score: float
    label: str


@functools.cache
def reference_session() -> Any:
    return ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])


def reference_detect(rgb: np.ndarray) -> list[Reference]:
    """Ultralytics-style letterbox with OpenCV, YOLOv8 decode, OpenCV NMS."""
    session = reference_session()
    meta = session.get_modelmeta().custom_metadata_map
    names = ast.literal_eval(meta["names"])
    height, width = rgb.shape[:2]
    ratio = min(SIZE / height, SIZE / width)
    new_w, new_h = int(round(width * ratio)), int(round(height * ratio))
    dw, dh = (SIZE - new_w) / 2, (SIZE - new_h) / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1], dtype=np.float32)
    resized = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    blob = cv2.dnn.blobFromImage(padded, scalefactor=1 / 255.0, swapRB=True)
    rows = session.run(None, {"images": blob})[0][0].T  # [N, 4 + C]
    scores, classes = rows[:, 4:].max(axis=1), rows[:, 4:].argmax(axis=1)
    candidates = [(float(cx - w / 2), float(cy - h / 2), float(w), float(h)) for cx, cy, w, h in rows[:, :4]]
    kept = cv2.dnn.NMSBoxes(candidates, scores.astype(float).tolist(), SCORE, IOU)
    found = []
    for i in np.asarray(kept, dtype=int).reshape(-1):
        x, y, w, h = candidates[i]
        x1, x2 = np.clip([(x - left) / ratio, (x + w - left) / ratio], 0, width)
        y1, y2 = np.clip([(y - top) / ratio, (y + h - top) / ratio], 0, height)
        if x2 > x1 and y2 > y1:
            found.append(Reference((x1, y1, x2, y2), float(scores[i]), names[int(classes[i])]))
    return found


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(OnnxSession(MODEL), score_threshold=SCORE, nms_iou=IOU, max_detections=300)


def project_detect(detector: Detector, rgb: np.ndarray) -> list[Reference]:
    height, width = rgb.shape[:2]
    return [
        Reference(
            (d.box.x_min * width, d.box.y_min * height, d.box.x_max * width, d.box.y_max * height), d.score, d.label
        )
        for d in detector.detect(Image.fromarray(rgb))
    ]


def test_model_is_read_from_its_metadata(detector: Detector) -> None:
    assert detector.input_size == (SIZE, SIZE)
    assert detector.class_names is not None and len(detector.class_names) == 18
    assert "FACE_FEMALE" in detector.class_names


def photo(name: str) -> np.ndarray:
    if name == "two_astronauts":  # 1024x512: two faces, wide letterbox padding
        astronaut = skimage_data.astronaut()
        return np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))
    return getattr(skimage_data, name)()


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee", "two_astronauts"])
def test_detector_matches_the_opencv_reference(detector: Detector, name: str) -> None:
    rgb = photo(name)
    ours, reference = project_detect(detector, rgb), reference_detect(rgb)
    assert reference, "the reference found nothing: the comparison would prove nothing"
    assert len(ours) == len(reference)
    for expected in reference:
        match = max(ours, key=lambda found: iou(found.box, expected.box))
        assert iou(match.box, expected.box) > 0.99
        assert match.label == expected.label
        assert match.score == pytest.approx(expected.score, abs=1e-4)


def test_astronaut_face_is_found(detector: Detector) -> None:
    faces = [d for d in project_detect(detector, skimage_data.astronaut()) if d.label == "FACE_FEMALE"]
    assert faces, "no FACE_FEMALE detection on the astronaut"
    x1, y1, x2, y2 = faces[0].box
    # Eileen Collins' face in the 512x512 photo: roughly x 170..280, y 70..190 (hair above).
    assert 180 < (x1 + x2) / 2 < 270 and 80 < (y1 + y2) / 2 < 180
    assert x1 > 130 and x2 < 320 and y1 > 10 and y2 < 230
    assert faces[0].score > 0.5
