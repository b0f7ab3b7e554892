"""TritonSession against a real Triton server (PyTriton) serving the project's stand-in models.

The server runs the same ONNX files with onnxruntime; the test runs them with onnxruntime
directly, so both paths must agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from common.adapters.triton_session import TritonSession
from common.errors import DependencyError, ModelError
from offline.models.standin_detector import build_blob_detector
from offline.models.standin_embedder import build_full_clip_embedder
from stack.triton_fixture import TritonServer, start_triton, triton_python

pytestmark = pytest.mark.integration

DIM = 64
DETECTOR, EMBEDDER = "universal_logo_detector_yolo", "clip"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        DETECTOR: build_blob_detector(folder / "detector.onnx", input_size=640),
        EMBEDDER: build_full_clip_embedder(folder / "embedder.onnx", dim=DIM),
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]) -> Iterator[TritonServer]:
    triton_python()  # skips with the install command when the environment is missing
    started = start_triton(tmp_path_factory.mktemp("triton"), detector=models[DETECTOR], embedder=models[EMBEDDER])
    try:
        yield started
    finally:
        started.stop()


def _reference(path: Path, feeds: dict[str, np.ndarray], output: str) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run([output], feeds)[0])


def _clip_feeds(count: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "pixel_values": rng.standard_normal((count, 3, 224, 224)).astype(np.float32),
        "input_ids": np.tile(np.array([[49406, 49407]], dtype=np.int64), (count, 1)),
        "attention_mask": np.ones((count, 2), dtype=np.int64),
    }


class CountingClient:
    """The real tritonclient, counting ``infer`` calls and their batch sizes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def infer(self, model_name: str, inputs: list[Any], **kwargs: Any) -> Any:
        self.batches.append(int(inputs[0].shape()[0]))
        return self.inner.infer(model_name, inputs, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_embedder_contract_is_read_from_the_server(server: TritonServer) -> None:
    session = TritonSession(server.url, EMBEDDER)

    assert session.max_batch_size == 32
    assert session.version == "triton:clip:1"
    specs = {spec.name: spec for spec in session.inputs()}
    assert set(specs) == {"pixel_values", "input_ids", "attention_mask"}
    assert (specs["pixel_values"].dtype, specs["pixel_values"].shape) == ("float32", (None, 3, 224, 224))
    assert specs["input_ids"].dtype == "int64"
    assert [(o.name, o.dtype, o.shape) for o in session.outputs()] == [("image_embeds", "float32", (None, DIM))]


def test_embeddings_through_triton_equal_onnxruntime(server: TritonServer, models: dict[str, Path]) -> None:
    feeds = _clip_feeds(5, seed=1)
    session = TritonSession(server.url, EMBEDDER)

    (embeds,) = session.run(["image_embeds"], feeds)

    expected = _reference(models[EMBEDDER], feeds, "image_embeds")
    assert embeds.shape == (5, DIM) and embeds.dtype == np.float32
    np.testing.assert_allclose(embeds, expected, rtol=1e-6, atol=1e-5)


def test_one_session_serves_concurrent_threads(server: TritonServer, models: dict[str, Path]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    session = TritonSession(server.url, EMBEDDER)
    batches = [_clip_feeds(3, seed=10 + i) for i in range(8)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda feeds: session.run(["image_embeds"], feeds)[0], batches))

    for feeds, embeds in zip(batches, results, strict=True):
        np.testing.assert_allclose(embeds, _reference(models[EMBEDDER], feeds, "image_embeds"), rtol=1e-6, atol=1e-5)


def test_batches_above_max_batch_size_are_split_and_reassembled(server: TritonServer, models: dict[str, Path]) -> None:
    import tritonclient.http as triton_http

    feeds = _clip_feeds(70, seed=2)
    client = CountingClient(triton_http.InferenceServerClient(server.url))
    session = TritonSession(server.url, EMBEDDER, client=client)

    (embeds,) = session.run(None, feeds)

    assert client.batches == [32, 32, 6]
    np.testing.assert_allclose(embeds, _reference(models[EMBEDDER], feeds, "image_embeds"), rtol=1e-6, atol=1e-5)


def test_detector_through_triton_equals_onnxruntime(server: TritonServer, models: dict[str, Path]) -> None:
    rng = np.random.default_rng(3)
    image = np.full((1, 3, 640, 640), 0.95, dtype=np.float32)
    image[:, :, 200:300, 250:420] = rng.uniform(0.0, 0.3, size=(3, 100, 170)).astype(np.float32)
    session = TritonSession(server.url, DETECTOR)

    (raw,) = session.run(["output0"], {"images": image})

    assert session.max_batch_size == 0
    assert [(s.name, s.shape) for s in session.inputs()] == [("images", (1, 3, 640, 640))]
    assert raw.shape == (1, 5, 8400)
    np.testing.assert_allclose(raw, _reference(models[DETECTOR], {"images": image}, "output0"), rtol=1e-6, atol=1e-5)


def test_wrong_shape_is_a_model_error(server: TritonServer) -> None:
    session = TritonSession(server.url, EMBEDDER)
    feeds = _clip_feeds(2, seed=4)
    feeds["pixel_values"] = feeds["pixel_values"][:, :, :100, :100]

    with pytest.raises(ModelError):
        session.run(["image_embeds"], feeds)
    with pytest.raises(ModelError):
        session.run(["image_embeds"], {**_clip_feeds(1, seed=5), "bogus": np.zeros((1, 2), np.float32)})


def test_unknown_model_is_a_dependency_error(server: TritonServer) -> None:
    with pytest.raises(DependencyError, match="triton"):
        TritonSession(server.url, "no_such_model")


def test_stopped_server_raises_dependency_error(server: TritonServer) -> None:
    """Runs last in this module: it stops the shared server."""
    session = TritonSession(server.url, EMBEDDER, timeout_s=5)
    server.stop()

    with pytest.raises(DependencyError) as info:
        session.run(["image_embeds"], _clip_feeds(1, seed=6))
    assert info.value.dependency == "triton"
    with pytest.raises(DependencyError):
        TritonSession(server.url, EMBEDDER, timeout_s=5)
