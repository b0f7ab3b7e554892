"""The embedder's traffic to a remote Triton: float32 crops against the uint8-input wrapper.

For each model (the plain export, which takes float32 ``pixel_values``, and its uint8 wrapper from
``offline.models.uint8_input``) a real PyTriton server is started and the project's own stack is
timed end to end: ``Embedder`` (crop resize, and for the float model the normalisation) →
``TritonSession`` (HTTP, binary tensors) → the server (onnxruntime, one thread). Bytes per
request is the exact HTTP body ``tritonclient`` sends for that batch (JSON header + tensors).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)


def request_bytes(feeds: dict[str, np.ndarray]) -> int:
    """Size of the HTTP body ``TritonSession`` sends for ``feeds`` (binary tensors, one output)."""
    from tritonclient.http import InferenceServerClient, InferInput, InferRequestedOutput
    from tritonclient.utils import np_to_triton_dtype

    inputs = []
    for name, array in feeds.items():
        item = InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        item.set_data_from_numpy(array, binary_data=True)
        inputs.append(item)
    body, _ = InferenceServerClient.generate_request_body(
        inputs, [InferRequestedOutput("image_embeds", binary_data=True)]
    )
    return len(body)


def _crops(count: int, seed: int = 3) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(40, 400, size=(count, 2))
    return [Image.fromarray(rng.integers(0, 256, (int(h), int(w), 3), dtype=np.uint8)) for h, w in sizes]


class _Recording:
    """A ``ModelSession`` passing everything through, keeping the last feeds it was given."""

    def __init__(self, session: Any) -> None:
        self.session, self.last = session, {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.last = dict(feeds)
        return self.session.run(names, feeds)


def _measure(url: str, model: str, label: str, sizes: list[int], seconds: float) -> list[dict[str, Any]]:
    from common.adapters.triton_session import TritonSession
    from common.inference.embedder import Embedder

    session = _Recording(TritonSession(url, "clip", timeout_s=120.0))
    records = []
    for size in sizes:
        embedder = Embedder(session, batch_size=size)
        crops = _crops(size)
        embedder.embed(crops)  # warm-up, and the feeds it sends
        sent = session.last
        runs, started = 0, time.perf_counter()
        while runs == 0 or time.perf_counter() - started < seconds:
            embedder.embed(crops)
            runs += 1
        elapsed = time.perf_counter() - started
        records.append(
            {
                "benchmark": "triton_input",
                "model": model,
                "model_input": label,
                "batch_size": size,
                "request_bytes": request_bytes(sent),
                "bytes_per_crop": request_bytes(sent) / size,
                "crops_per_s": runs * size / elapsed,
                "ms_per_batch": elapsed / runs * 1e3,
            }
        )
    return records


def run(models: dict[str, Path], sizes: list[int], seconds: float) -> list[dict[str, Any]]:
    """Records for each embedder export (``{description: path}``) and its uint8 wrapper, each
    behind its own PyTriton server."""
    from offline.models.uint8_input import ensure_uint8_wrapper

    records: list[dict[str, Any]] = []
    for model, export in models.items():
        for label, path in (("float32 (plain export)", export), ("uint8 (wrapper)", ensure_uint8_wrapper(export))):
            root = Path(tempfile.mkdtemp(prefix="lab-"))  # short: Triton's socket paths are limited
            try:
                from stack.triton_fixture import start_triton

                server = start_triton(root, embedder=path, timeout=180.0)
            except BaseException as exc:  # noqa: BLE001 - pytest.skip raises a BaseException without the venv
                if isinstance(exc, KeyboardInterrupt):
                    raise
                shutil.rmtree(root, ignore_errors=True)
                log.warning("Triton input benchmark skipped: %s", exc)
                return [{"benchmark": "triton_input", "skipped": True, "reason": str(exc)[:300]}]
            try:
                records += _measure(server.url, model, label, sizes, seconds)
            finally:
                server.stop()
                shutil.rmtree(root, ignore_errors=True)
    return records


def bench_models(embedder: Path, workdir: Path) -> dict[str, Path]:
    """The bench's ViT-B/32-sized stand-in (compute-bound on this CPU) and a light stand-in of
    the same interface (0.01 GMACs: what a GPU server's share of the time looks like)."""
    from offline.models.standin_embedder import build_full_clip_embedder

    light = build_full_clip_embedder(workdir / "light" / "embedder.onnx")
    return {"ViT-B/32-sized stand-in (4.4 GMACs)": embedder, "light stand-in": light}
