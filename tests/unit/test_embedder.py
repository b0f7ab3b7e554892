"""The robotoff-v1 crop recipe against OpenCV + transformers, and the Embedder on fake sessions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data
from transformers import CLIPImageProcessor

from common.adapters.onnx_session import OnnxSession
from common.errors import ConfigError, ModelError
from common.inference.embedder import (
    CROP_RECIPES,
    Embedder,
    normalise_robotoff_v1,
    preprocess_robotoff_v1,
    resize_linear_u8,
    resize_robotoff_v1,
)
from common.ports.model_session import TensorSpec
from offline.models.standin_embedder import build_full_clip_embedder

IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": data.astronaut,
    "coffee": data.coffee,
    "chelsea": data.chelsea,
}

# (image, (left, top, right, bottom)): shrinking, enlarging, exactly halving, identity, thin strips
CROPS = [
    ("astronaut", (0, 0, 512, 512)),
    ("astronaut", (150, 20, 330, 230)),
    ("astronaut", (10, 40, 458, 488)),
    ("coffee", (100, 50, 537, 391)),
    ("coffee", (300, 200, 337, 223)),
    ("coffee", (0, 0, 224, 224)),
    ("chelsea", (120, 30, 340, 290)),
    ("chelsea", (200, 100, 203, 270)),
    ("chelsea", (5, 5, 12, 9)),
]


def crop_of(name: str, box: tuple[int, int, int, int]) -> Image.Image:
    return Image.fromarray(IMAGES[name]()).crop(box)


@pytest.fixture(scope="module")
def processor() -> CLIPImageProcessor:
    return CLIPImageProcessor()


@pytest.mark.parametrize(("name", "box"), CROPS)
def test_robotoff_v1_matches_opencv_then_clip_image_processor(processor, name, box) -> None:
    crop = crop_of(name, box)
    resized = cv2.resize(np.asarray(crop), (224, 224), interpolation=cv2.INTER_LINEAR)
    expected = processor(images=resized, return_tensors="np")["pixel_values"]

    actual = preprocess_robotoff_v1([crop])

    assert actual.shape == expected.shape == (1, 3, 224, 224)
    assert actual.dtype == np.float32
    assert np.abs(actual - expected).max() < 1e-3


def test_resize_matches_opencv_bit_for_bit_on_random_sizes() -> None:
    rng = np.random.default_rng(7)
    for _ in range(40):
        height, width = (int(v) for v in rng.integers(1, 700, size=2))
        out_w, out_h = (int(v) for v in rng.integers(1, 300, size=2))
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        expected = cv2.resize(pixels, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(resize_linear_u8(pixels, out_w, out_h), expected)


def test_non_rgb_crops_are_converted_to_rgb() -> None:
    crop = crop_of("chelsea", (120, 30, 340, 290))
    for mode in ("L", "RGBA", "P"):
        converted = crop.convert(mode)
        expected = preprocess_robotoff_v1([converted.convert("RGB")])
        np.testing.assert_array_equal(preprocess_robotoff_v1([converted]), expected)


def test_recipe_registry_names_the_default_recipe() -> None:
    recipe = CROP_RECIPES["robotoff-v1"]
    assert recipe.resize is resize_robotoff_v1 and recipe.normalise is normalise_robotoff_v1


# --- Embedder on a fake session ------------------------------------------------------------

VISION_INPUTS = [TensorSpec("pixel_values", (None, 3, 224, 224), "float32")]
FULL_INPUTS = [
    TensorSpec("input_ids", ("batch", "sequence"), "int64"),
    TensorSpec("pixel_values", ("batch", 3, 224, 224), "float32"),
    TensorSpec("attention_mask", ("batch", "sequence"), "int64"),
]


def channel_features(pixels: np.ndarray) -> np.ndarray:
    """A known function of the pixels: per-channel means and a constant, as a 4-d vector."""
    means = pixels.mean(axis=(2, 3))
    return np.concatenate([means, np.full((len(pixels), 1), 3.0, dtype=np.float32)], axis=1)


class FakeSession:
    def __init__(
        self,
        inputs: Sequence[TensorSpec] = VISION_INPUTS,
        output_shape: tuple[int | str | None, ...] = (None, 4),
        *,
        max_batch_size: int = 0,
        compute: Callable[[np.ndarray], np.ndarray] = channel_features,
    ) -> None:
        self._inputs, self._output_shape, self._compute = list(inputs), output_shape, compute
        self.max_batch_size = max_batch_size
        self.version = "fake-1"
        self.calls: list[tuple[list[str] | None, dict[str, np.ndarray]]] = []

    def inputs(self) -> Sequence[TensorSpec]:
        return self._inputs

    def outputs(self) -> Sequence[TensorSpec]:
        return [
            TensorSpec("text_embeds", (None, 4), "float32"),
            TensorSpec("image_embeds", self._output_shape, "float32"),
        ]

    def metadata(self) -> Mapping[str, str]:
        return {}

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        self.calls.append((list(output_names) if output_names else None, {k: np.array(v) for k, v in feeds.items()}))
        return [self._compute(np.asarray(feeds["pixel_values"]))]


def sample_crops(count: int) -> list[Image.Image]:
    names = list(IMAGES)
    return [crop_of(names[i % 3], (10 * i, 5 * i, 10 * i + 60 + i, 5 * i + 40 + 2 * i)) for i in range(count)]


def test_vision_export_gets_only_pixel_values() -> None:
    session = FakeSession(VISION_INPUTS)
    Embedder(session, batch_size=8).embed(sample_crops(3))
    ((output_names, feeds),) = session.calls
    assert output_names == ["image_embeds"]
    assert set(feeds) == {"pixel_values"}
    assert feeds["pixel_values"].shape == (3, 3, 224, 224) and feeds["pixel_values"].dtype == np.float32


def test_full_clip_export_gets_robotoffs_dummy_text() -> None:
    session = FakeSession(FULL_INPUTS)
    embedder = Embedder(session, batch_size=8)
    embedder.embed(sample_crops(3))
    ((_, feeds),) = session.calls
    assert embedder.full_clip
    assert set(feeds) == {"input_ids", "pixel_values", "attention_mask"}
    np.testing.assert_array_equal(feeds["input_ids"], np.array([[49406, 49407]] * 3))
    np.testing.assert_array_equal(feeds["attention_mask"], np.array([[1, 1]] * 3))
    assert feeds["input_ids"].dtype == np.int64 and feeds["attention_mask"].dtype == np.int64


def test_fixed_text_length_is_padded_with_masked_end_tokens() -> None:
    inputs = [
        TensorSpec("input_ids", (None, 4), "int64"),
        VISION_INPUTS[0],
        TensorSpec("attention_mask", (None, 4), "int64"),
    ]
    session = FakeSession(inputs)
    Embedder(session, batch_size=8).embed(sample_crops(1))
    feeds = session.calls[0][1]
    np.testing.assert_array_equal(feeds["input_ids"], [[49406, 49407, 49407, 49407]])
    np.testing.assert_array_equal(feeds["attention_mask"], [[1, 1, 0, 0]])


@pytest.mark.parametrize(("batch_size", "max_batch_size", "largest"), [(5, 0, 5), (5, 3, 3), (2, 32, 2)])
def test_batches_never_exceed_the_limit_and_keep_order(batch_size, max_batch_size, largest) -> None:
    crops = sample_crops(11)
    session = FakeSession(max_batch_size=max_batch_size)
    vectors = Embedder(session, batch_size=batch_size).embed(crops)

    sizes = [feeds["pixel_values"].shape[0] for _, feeds in session.calls]
    assert max(sizes) == largest and sum(sizes) == len(crops)
    raw = channel_features(preprocess_robotoff_v1(crops))
    np.testing.assert_allclose(vectors, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_vectors_are_unit_length_float32() -> None:
    vectors = Embedder(FakeSession(), batch_size=4).embed(sample_crops(6))
    assert vectors.dtype == np.float32 and vectors.shape == (6, 4)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_dim_comes_from_the_declared_output_without_running() -> None:
    session = FakeSession(output_shape=(None, 4))
    embedder = Embedder(session, batch_size=4)
    assert embedder.dim == 4 and session.calls == []


def test_dynamic_dim_is_probed_once_with_a_dummy_batch() -> None:
    session = FakeSession(output_shape=("batch", "dim"), compute=lambda px: np.ones((len(px), 7), np.float32))
    embedder = Embedder(session, batch_size=4)
    assert embedder.dim == 7 and embedder.dim == 7
    assert len(session.calls) == 1 and session.calls[0][1]["pixel_values"].shape == (1, 3, 224, 224)


def test_image_size_follows_the_model_input() -> None:
    session = FakeSession([TensorSpec("pixel_values", (None, 3, 64, 64), "float32")])
    Embedder(session, batch_size=4).embed(sample_crops(2))
    assert session.calls[0][1]["pixel_values"].shape == (2, 3, 64, 64)


def test_empty_input_makes_an_empty_matrix() -> None:
    assert Embedder(FakeSession(), batch_size=4).embed([]).shape == (0, 4)


def test_zero_vector_is_a_model_error() -> None:
    session = FakeSession(compute=lambda px: np.zeros((len(px), 4), np.float32))
    with pytest.raises(ModelError, match="zero"):
        Embedder(session, batch_size=4).embed(sample_crops(2))


def test_wrong_number_of_vectors_is_a_model_error() -> None:
    session = FakeSession(compute=lambda px: np.ones((len(px) + 1, 4), np.float32))
    with pytest.raises(ModelError):
        Embedder(session, batch_size=4).embed(sample_crops(2))


@pytest.mark.parametrize(
    "inputs",
    [
        [TensorSpec("images", (None, 3, 224, 224), "float32")],
        [TensorSpec("pixel_values", (None, 3, 224, 224), "int32")],  # uint8 is the wrapper's input, int32 nothing
        [VISION_INPUTS[0], TensorSpec("input_ids", (None, 2), "int64")],
        [
            VISION_INPUTS[0],
            TensorSpec("input_ids", (None, 2), "int32"),
            TensorSpec("attention_mask", (None, 2), "int64"),
        ],
        [TensorSpec("pixel_values", (None, 3, 224, 200), "float32")],
    ],
)
def test_models_breaking_the_contract_are_refused(inputs) -> None:
    with pytest.raises(ModelError):
        Embedder(FakeSession(inputs), batch_size=4)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigError):
        Embedder(FakeSession(), batch_size=0)
    with pytest.raises(ConfigError):
        Embedder(FakeSession(), batch_size=4, crop_recipe="squash-v9")


# --- Embedder on the stand-in model in onnxruntime -----------------------------------------


def test_standin_puts_similar_crops_closer_than_dissimilar_ones(tmp_path: Path) -> None:
    embedder = Embedder(OnnxSession(build_full_clip_embedder(tmp_path / "clip.onnx")), batch_size=4)
    assert embedder.full_clip and embedder.dim == 512
    base = crop_of("astronaut", (150, 20, 330, 230))
    shifted = crop_of("astronaut", (156, 26, 336, 236))
    brighter = Image.fromarray(np.clip(np.asarray(base, dtype=np.int16) + 12, 0, 255).astype(np.uint8))
    other = crop_of("coffee", (100, 50, 537, 391))

    vectors = embedder.embed([base, shifted, brighter, other])

    cosine = vectors @ vectors[0]
    assert cosine[1] > cosine[3] and cosine[2] > cosine[3]
    assert embedder.recipe == "robotoff-v1" and embedder.version
