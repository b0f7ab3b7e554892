"""Crops/s of the CLIP-sized embedder on a GPU (onnxruntime CUDA or TensorRT provider), batch 32-512.

Runs unattended in a few minutes: ``python -m bench.gpu``. Without onnxruntime-gpu and a device
the record is written empty, with the reason.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import onnxruntime as ort

from bench.models import ensure
from bench.throughput import batch_throughput

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (32, 64, 128, 256, 512)


def measure(seconds_per_size: float = 5.0) -> list[dict[str, Any]]:
    available = ort.get_available_providers()
    providers = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    if not providers:
        return [
            {
                "benchmark": "gpu",
                "skipped": True,
                "reason": f"no CUDA/TensorRT provider in onnxruntime {ort.__version__} (available: {available})",
            }
        ]
    model = ensure()["embedder"]
    records = []
    for provider in providers:
        session = ort.InferenceSession(str(model), providers=[provider, "CPUExecutionProvider"])
        records += batch_throughput(
            lambda batch, s=session: s.run(None, {"pixel_values": batch}),
            list(SIZES),
            seconds_per_size,
            benchmark="gpu",
            provider=provider,
        )
    return records


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    RESULTS.mkdir(parents=True, exist_ok=True)
    records = measure()
    (RESULTS / "gpu.json").write_text(json.dumps(records, indent=1) + "\n")


if __name__ == "__main__":
    main()
