"""The YOLOv8 detector, with constant-output models whose raw tensors are built from known boxes.

Expected relative boxes are worked out by hand from the letterbox geometry in each test's comment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.adapters.onnx_session import OnnxSession
from common.errors import ModelError
from common.inference.detector import Detector, decode_yolo, letterbox, nms, resize_bilinear
from common.ports.model_session import TensorSpec
from offline.models.standin_detector import build_constant_detector

ANCHORS = 50


def raw_output(
    anchors: Sequence[tuple[tuple[float, float, float, float], Sequence[float]]], classes: int = 1
) -> np.ndarray:
    """``[1, 4+C, ANCHORS]``: each anchor given as a letterbox box (x1, y1, x2, y2) and class scores."""
    raw = np.zeros((1, 4 + classes, ANCHORS), dtype=np.float32)
    for i, ((x1, y1, x2, y2), scores) in enumerate(anchors):
        raw[0, :4, i] = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
        raw[0, 4:, i] = scores
    return raw


def detector(tmp_path: Path, raw: np.ndarray, size: int = 320, **kwargs: object) -> Detector:
    names = kwargs.pop("names", None)
    session = OnnxSession(build_constant_detector(tmp_path / "det.onnx", raw, size, names=names))  # type: ignore[arg-type]
    options: dict = {"score_threshold": 0.25, "nms_iou": 0.7, "max_detections": 100} | kwargs
    return Detector(session, **options)


def rel(detection_box: object) -> list[float]:
    return [round(v, 6) for v in detection_box.as_list()]  # type: ignore[attr-defined]


def test_landscape_box_comes_back_relative(tmp_path: Path) -> None:
    # 400x200 into 320: scale 0.8, resized 320x160, pad_y = 80. Image box x 50..150, y 20..120
    # lands at x 40..120, y 16+80=96..176.
    det = detector(tmp_path, raw_output([((40, 96, 120, 176), [0.9])]))
    (found,) = det.detect(Image.new("RGB", (400, 200), "white"))
    assert rel(found.box) == [0.1, 0.125, 0.6, 0.375]
    assert found.label == "object"
    assert found.score == pytest.approx(0.9)


def test_portrait_box_comes_back_relative(tmp_path: Path) -> None:
    # 150x300 into 320: scale 16/15, resized 160x320, pad_x = 80. Image box x 30..90, y 60..240
    # lands at x 80+32=112..80+96=176, y 64..256.
    det = detector(tmp_path, raw_output([((112, 64, 176, 256), [0.7])]))
    (found,) = det.detect(Image.new("RGB", (150, 300), "white"))
    assert rel(found.box) == [0.2, 0.2, 0.8, 0.6]


def test_best_class_wins_and_names_come_from_metadata(tmp_path: Path) -> None:
    raw = raw_output([((0, 0, 160, 160), [0.1, 0.8, 0.3]), ((200, 200, 300, 300), [0.05, 0.2, 0.6])], classes=3)
    det = detector(tmp_path, raw, names=["cat", "dog", "fox"])
    found = det.detect(Image.new("RGB", (320, 320)))
    assert [(d.label, round(d.score, 6)) for d in found] == [("dog", 0.8), ("fox", 0.6)]
    assert det.class_names == ["cat", "dog", "fox"]


def test_nms_is_class_agnostic(tmp_path: Path) -> None:
    raw = raw_output(
        [
            ((0, 0, 100, 100), [0.9, 0.0]),
            ((5, 0, 105, 100), [0.0, 0.8]),  # IoU 9500/10500 = 0.90 with the first: suppressed
            ((100 / 3, 0, 100 + 100 / 3, 100), [0.7, 0.0]),  # IoU 0.5 with the first: kept
            ((200, 200, 300, 300), [0.0, 0.6]),  # elsewhere: kept
        ],
        classes=2,
    )
    found = detector(tmp_path, raw).detect(Image.new("RGB", (320, 320)))
    assert [round(d.score, 6) for d in found] == [0.9, 0.7, 0.6]
    assert [d.label for d in found] == ["class_0", "class_0", "class_1"]


def test_score_threshold(tmp_path: Path) -> None:
    raw = raw_output([((0, 0, 50, 50), [0.3]), ((100, 100, 150, 150), [0.2]), ((200, 200, 250, 250), [0.25])])
    found = detector(tmp_path, raw, score_threshold=0.25).detect(Image.new("RGB", (320, 320)))
    assert [round(d.score, 6) for d in found] == [0.3]


def test_cap_keeps_the_highest_scores(tmp_path: Path) -> None:
    scores = [0.4, 0.9, 0.5, 0.8, 0.6]
    raw = raw_output([((60 * i, 0, 60 * i + 50, 50), [s]) for i, s in enumerate(scores)])
    found = detector(tmp_path, raw, max_detections=3).detect(Image.new("RGB", (320, 320)))
    assert [round(d.score, 6) for d in found] == [0.9, 0.8, 0.6]


def test_boxes_are_clipped_and_padding_only_boxes_dropped(tmp_path: Path) -> None:
    # 400x200 into 320: the image occupies y 80..240 of the letterbox.
    raw = raw_output(
        [
            ((-20, 60, 160, 120), [0.9]),  # spills left and into the top padding
            ((100, 0, 200, 70), [0.8]),  # entirely in the top padding: empty once clipped
            ((240, 200, 340, 260), [0.7]),  # spills right and into the bottom padding
        ]
    )
    found = detector(tmp_path, raw).detect(Image.new("RGB", (400, 200)))
    assert [rel(d.box) for d in found] == [[0.0, 0.0, 0.25, 0.5], [0.75, 0.75, 1.0, 1.0]]


class FakeSession:
    """A ModelSession with a dynamic input that records what it was fed."""

    def __init__(self, raw: np.ndarray, metadata: Mapping[str, str]) -> None:
        self.raw, self._metadata = raw, dict(metadata)
        self.fed: list[tuple[int, ...]] = []

    version = "fake-1"
    max_batch_size = 0

    def inputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("images", ("batch", 3, "height", "width"), "float32")]

    def outputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("output0", ("batch", "channels", "anchors"), "float32")]

    def metadata(self) -> Mapping[str, str]:
        return self._metadata

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        self.fed.append(feeds["images"].shape)
        return [self.raw]


@pytest.mark.parametrize(("metadata", "expected"), [({"imgsz": "[256, 384]"}, (256, 384)), ({}, (640, 640))])
def test_dynamic_input_size_from_metadata_else_640(metadata: dict[str, str], expected: tuple[int, int]) -> None:
    session = FakeSession(raw_output([((0, 0, 10, 10), [0.9])]), metadata)
    det = Detector(session, score_threshold=0.25, nms_iou=0.7, max_detections=10)
    det.detect(Image.new("RGB", (100, 100)))
    assert session.fed == [(1, 3, *expected)]
    assert det.version == "fake-1"


def test_class_names_when_the_output_shape_is_dynamic() -> None:
    raw = raw_output([((0, 0, 10, 10), [0.1, 0.9])], classes=2)
    configured = Detector(
        FakeSession(raw, {"names": "{0: 'x', 1: 'y'}"}),
        score_threshold=0.25,
        nms_iou=0.7,
        max_detections=10,
        class_names=["left", "right"],
    )
    assert [d.label for d in configured.detect(Image.new("RGB", (64, 64)))] == ["right"]
    from_metadata = Detector(
        FakeSession(raw, {"names": "{0: 'x', 1: 'y'}"}), score_threshold=0.25, nms_iou=0.7, max_detections=10
    )
    assert [d.label for d in from_metadata.detect(Image.new("RGB", (64, 64)))] == ["y"]
    default = Detector(FakeSession(raw, {}), score_threshold=0.25, nms_iou=0.7, max_detections=10)
    assert [d.label for d in default.detect(Image.new("RGB", (64, 64)))] == ["class_1"]


def test_class_name_count_must_match_the_model(tmp_path: Path) -> None:
    raw = raw_output([((0, 0, 10, 10), [0.9])], classes=1)
    with pytest.raises(ModelError, match="2 class names configured, model has 1 classes"):
        detector(tmp_path, raw, class_names=["a", "b"])


def test_decode_rejects_wrong_layouts() -> None:
    with pytest.raises(ModelError, match=r"\[1, 4\+C, N\]"):
        decode_yolo(np.zeros((1, 4, 10), np.float32), 0.1)
    with pytest.raises(ModelError):
        decode_yolo(np.zeros((5, 10), np.float32), 0.1)


def test_nms_keeps_disjoint_boxes_and_orders_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [1, 1, 10, 10]], dtype=np.float32)
    # box 2 lies inside box 0: IoU 81/100 = 0.81
    assert nms(boxes, np.array([0.5, 0.9, 0.6]), 0.8).tolist() == [1, 2]
    assert nms(boxes, np.array([0.5, 0.9, 0.6]), 0.85).tolist() == [1, 2, 0]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.7).tolist() == []


def test_letterbox_geometry_and_padding() -> None:
    # 333x101 into 320x320: scale 320/333, resized 320x97, vertical padding 223 = 111 + 112.
    image = Image.new("RGB", (333, 101), (255, 0, 51))
    tensor, scale, pad_x, pad_y = letterbox(image, (320, 320))
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    assert (scale, pad_x, pad_y) == (320 / 333, 0.0, 111.0)
    grey = 114 / 255
    assert np.allclose(tensor[0, :, :111], grey) and np.allclose(tensor[0, :, 208:], grey)
    assert np.allclose(tensor[0, :, 111:208].reshape(3, -1).T, [1.0, 0.0, 0.2])


def test_letterbox_respects_non_square_targets() -> None:
    # 100x100 into (height 256, width 384): scale 2.56, resized 256x256, pad_x 64.
    _, scale, pad_x, pad_y = letterbox(Image.new("RGB", (100, 100)), (256, 384))
    assert (scale, pad_x, pad_y) == (2.56, 64.0, 0.0)


@pytest.mark.parametrize(("source", "target"), [((97, 211), (40, 64)), ((30, 20), (77, 51)), ((64, 64), (64, 64))])
def test_resize_matches_opencv_inter_linear(source: tuple[int, int], target: tuple[int, int]) -> None:
    cv2 = pytest.importorskip("cv2")
    pixels = np.random.default_rng(3).integers(0, 256, (*source, 3), dtype=np.uint8)
    expected = cv2.resize(pixels.astype(np.float32), (target[1], target[0]), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(resize_bilinear(pixels, *target), expected, atol=1e-3)


# --- the stand-in blob detector -----------------------------------------------------------


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two [y_min, x_min, y_max, x_max] boxes."""
    h = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    w = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - h * w
    return h * w / union


def product_photo() -> tuple[Image.Image, dict[str, list[float]]]:
    """A pale package on a white table with three logo-like marks; their true relative boxes."""
    from PIL import ImageDraw, ImageFont

    width, height = 800, 600
    image = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle([60, 60, 739, 539], fill=(245, 238, 215))
    draw.rectangle([100, 100, 249, 179], fill=(220, 30, 30))  # pixels x 100..249, y 100..179
    draw.ellipse([500, 100, 600, 200], fill=(30, 60, 200))
    draw.text((150, 380), "LOGO", fill=(0, 0, 0), font=ImageFont.load_default(size=60))
    ink = np.asarray(image).min(axis=2) < 100
    ys, xs = np.nonzero(ink[300:, :400])
    word = [(ys.min() + 300) / height, xs.min() / width, (ys.max() + 301) / height, (xs.max() + 1) / width]
    truth = {
        "rectangle": [100 / height, 100 / width, 180 / height, 250 / width],
        "disc": [100 / height, 500 / width, 201 / height, 601 / width],
        "word": word,
    }
    return image, truth


def blob_detector(tmp_path: Path, size: int = 640) -> Detector:
    from offline.models.standin_detector import build_blob_detector

    session = OnnxSession(build_blob_detector(tmp_path / "blob.onnx", size))
    return Detector(session, score_threshold=0.5, nms_iou=0.7, max_detections=100)


@pytest.mark.parametrize(("size", "anchors"), [(640, 80 * 80 + 40 * 40 + 20 * 20), (320, 40 * 40 + 20 * 20 + 10 * 10)])
def test_blob_detector_has_the_yolov8_contract(tmp_path: Path, size: int, anchors: int) -> None:
    from offline.models.standin_detector import build_blob_detector

    session = OnnxSession(build_blob_detector(tmp_path / "blob.onnx", size))
    assert [(s.name, s.shape) for s in session.inputs()] == [("images", (1, 3, size, size))]
    assert [(s.name, s.shape) for s in session.outputs()] == [("output0", (1, 5, anchors))]
    assert session.metadata()["names"] == "{0: 'object'}"
    assert "not meaningful" in session.metadata()["description"]


def test_blob_detector_finds_the_marks_on_a_package(tmp_path: Path) -> None:
    image, truth = product_photo()
    found = blob_detector(tmp_path).detect(image)
    for name, box in truth.items():
        best = max((iou(d.box.as_list(), box) for d in found), default=0.0)
        assert best > 0.6, f"{name} not found: best IoU {best:.2f}"
    for detection in found:  # nothing else: no box on the package, the table or the padding
        assert max(iou(detection.box.as_list(), box) for box in truth.values()) > 0.5


def test_blob_detector_finds_nothing_on_a_blank_package(tmp_path: Path) -> None:
    image = Image.new("RGB", (500, 700), (250, 250, 250))
    image.paste((245, 238, 215), (50, 50, 450, 650))
    assert blob_detector(tmp_path, 320).detect(image) == []
