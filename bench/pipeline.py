"""Images/s through detect → embed → index (the real ``ingest_file`` path of the embedded default)
against raw onnxruntime inference of the same two models on the same inputs, in the same run.

Raw: the detector on each image's letterboxed tensor, then the embedder on that image's crops
(the same crops the pipeline cut, as one batch), sessions with onnxruntime's default threads.

The images are split into rounds and the two paths alternate round by round (pipeline, raw,
pipeline, raw, ...), so a slow spell of this shared machine hits both; the record keeps each
round's ratio beside the overall one.
"""

from __future__ import annotations

import logging
import random
import shutil
import time
from pathlib import Path
from typing import Any

import onnxruntime as ort

from bench.throughput import batch_throughput
from common.bootstrap import Container
from common.inference.detector import letterbox
from common.inference.embedder import preprocess_robotoff_v1
from common.inference.images import crop_truncated, decode_image
from common.pipeline.ingest import ingest_file
from common.settings import load_settings
from offline.samples import draw_product

log = logging.getLogger(__name__)


def sample_images(directory: Path, count: int, seed: int = 7) -> list[Path]:
    """Synthetic product photos (JPEG, 640×800) with a few logo-like marks each."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        image, _ = draw_product(rng)
        path = directory / f"product-{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def container_for(home: Path, models: dict[str, Path], **overrides: Any) -> Container:
    shutil.rmtree(home, ignore_errors=True)
    settings = load_settings(
        {}, home=home, detector_model=str(models["detector"]), embedder_model=str(models["embedder"]), **overrides
    )
    return Container(settings)


def run_pipeline(paths: list[Path], container: Container) -> tuple[float, list[list[Any]]]:
    """Seconds to ingest every image and the boxes found per image."""
    started = time.perf_counter()
    boxes = []
    for path in paths:
        record = ingest_file(path, container.intake(), container.store)
        if record["status"] == "failed":
            raise RuntimeError(f"pipeline failed on {path}: {record['error']}")
        boxes.append([logo["bounding_box"] for logo in record["logos"]])
    return time.perf_counter() - started, boxes


def raw_sessions(container: Container) -> tuple[ort.InferenceSession, ort.InferenceSession]:
    settings = container.settings
    return (
        ort.InferenceSession(settings.detector_model, providers=["CPUExecutionProvider"]),
        ort.InferenceSession(settings.embedder_model, providers=["CPUExecutionProvider"]),
    )


def run_raw(
    paths: list[Path], container: Container, sessions: tuple[ort.InferenceSession, ort.InferenceSession]
) -> tuple[float, int]:
    """Seconds of raw inference on the same inputs (preprocessing done beforehand), and crops."""
    detector, embedder = sessions
    tensors, crops = [], []
    for path in paths:
        image = decode_image(path.read_bytes(), max_pixels=10**8, max_bytes=10**8)
        tensors.append(letterbox(image, (640, 640))[0])
        found = container.detector.detect(image)
        crops.append(preprocess_robotoff_v1([crop_truncated(image, d.box) for d in found]) if found else None)
    detector.run(None, {"images": tensors[0]})
    started = time.perf_counter()
    for tensor, batch in zip(tensors, crops, strict=True):
        detector.run(None, {"images": tensor})
        if batch is not None:
            embedder.run(None, {"pixel_values": batch})
    return time.perf_counter() - started, sum(len(b) for b in crops if b is not None)


def run(models: dict[str, Path], workdir: Path, images: int, rounds: int = 3) -> list[dict[str, Any]]:
    paths = sample_images(workdir / "images", images + 1)
    container = container_for(workdir / "pipeline-home", models)
    ingest_file(paths[0], container.intake(), container.store)  # warm-up: loads the models and the index
    sessions = raw_sessions(container)
    run_raw(paths[:1], container, sessions)
    pipeline_s = raw_s = 0.0
    boxes: list[list[Any]] = []
    crops, ratios = 0, []
    for part in (paths[1 + r :: rounds] for r in range(rounds)):
        seconds, found = run_pipeline(part, container)
        raw_seconds, raw_crops = run_raw(part, container, sessions)
        pipeline_s, raw_s, crops = pipeline_s + seconds, raw_s + raw_seconds, crops + raw_crops
        boxes += found
        ratios.append(raw_seconds / seconds)
    common = {
        "benchmark": "pipeline",
        "images": images,
        "crops": crops,
        "runtime": "onnxruntime-cpu",
        "embed_batch_size": container.settings.embed_batch_size,
    }
    records = [
        {
            **common,
            "path": "raw onnxruntime (detector + embedder only)",
            "seconds": raw_s,
            "images_per_s": images / raw_s,
        },
        {
            **common,
            "path": "pipeline (ingest_file: store, detect, crop, embed, index, neighbours)",
            "seconds": pipeline_s,
            "images_per_s": images / pipeline_s,
            "fraction_of_raw": raw_s / pipeline_s,
            "fraction_of_raw_per_round": ratios,
            "logos_found": sum(len(b) for b in boxes),
        },
    ]
    log.info("pipeline %.2f img/s vs raw %.2f img/s", records[1]["images_per_s"], records[0]["images_per_s"])
    return records


def embedder_batches(model: Path, sizes: list[int], seconds_per_size: float) -> list[dict[str, Any]]:
    """Crops/s of the embedder on onnxruntime (CPU) at each batch size."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return batch_throughput(
        lambda batch: session.run(None, {"pixel_values": batch}),
        sizes,
        seconds_per_size,
        benchmark="batching",
        runtime="onnxruntime-cpu",
    )
