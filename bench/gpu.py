"""Crops/s of the CLIP-sized embedder on a GPU (onnxruntime CUDA or TensorRT provider), batch 32-512.

Runs unattended in a few minutes on a machine with a GPU and ``onnxruntime-gpu``::

    python -m bench.gpu --out bench/results/gpu_device.json

Each provider is measured two ways: with the batch handed over from host memory (what a server
pays per request, the copy to the GPU included) and with the batch already on the GPU (I/O
binding: the model alone). The float32 model is measured as built; a float16 copy of it (weights
and activations in half precision, float32 in and out) shows what half precision buys.

``make bench`` calls :func:`measure`. On a machine without a GPU provider it reports the records
of the last device run (``bench/results/gpu_device.json``, labelled as such) or, where there is
none, one record saying why the row is empty.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from bench.models import ensure
from bench.throughput import batch_throughput

log = logging.getLogger(__name__)
RESULTS = Path(__file__).resolve().parent / "results"
DEVICE_RECORDS = RESULTS / "gpu_device.json"
SIZES = (32, 64, 128, 256, 512)
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` computing in float16, with the same float32 input and output.

    Float initialisers become float16; a Cast follows the input and precedes the output. The
    stand-in graphs hold no other float-typed constants, which is checked.
    """
    half = onnx.ModelProto()
    half.CopyFrom(model)
    graph = half.graph
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in graph.node:
        if node.op_type in ("Constant", "ConstantOfShape", "Cast", "RandomNormal", "EyeLike"):
            raise ValueError(f"to_float16 does not handle {node.op_type} nodes ({node.name})")
    (source,) = graph.input
    (target,) = graph.output
    inner_in, inner_out = f"{source.name}_fp16", f"{target.name}_fp16"
    for node in graph.node:
        node.input[:] = [inner_in if name == source.name else name for name in node.input]
        node.output[:] = [inner_out if name == target.name else name for name in node.output]
    graph.node.insert(0, helper.make_node("Cast", [source.name], [inner_in], to=TensorProto.FLOAT16))
    graph.node.append(helper.make_node("Cast", [inner_out], [target.name], to=TensorProto.FLOAT))
    del graph.value_info[:]
    return half


def device_name() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
        return out.splitlines()[0] if out else "unknown GPU"
    except (OSError, subprocess.SubprocessError):
        return "unknown GPU"


def _host_runner(session: ort.InferenceSession, input_name: str) -> Any:
    return lambda batch: session.run(None, {input_name: batch})


def _device_runner(session: ort.InferenceSession, input_name: str, output_name: str) -> Any:
    """Runs on a batch copied to the GPU once (per batch size); the output stays on the GPU."""
    cache: dict[int, ort.OrtValue] = {}

    def run(batch: np.ndarray) -> None:
        if len(batch) not in cache:
            cache.clear()
            cache[len(batch)] = ort.OrtValue.ortvalue_from_numpy(batch, "cuda", 0)
        binding = session.io_binding()
        binding.bind_ortvalue_input(input_name, cache[len(batch)])
        binding.bind_output(output_name, "cuda", 0)
        session.run_with_iobinding(binding)

    return run


def available_gpu_providers() -> list[str]:
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None and "CUDAExecutionProvider" in ort.get_available_providers():
        # CUDA and cuDNN from the nvidia-* wheels, where they are installed
        try:
            preload()
        except Exception as exc:  # noqa: BLE001 - recorded below through the provider list
            log.warning("onnxruntime.preload_dlls failed: %s", exc)
    available = ort.get_available_providers()
    return [p for p in GPU_PROVIDERS if p in available]


def measure_here(providers: list[str], seconds_per_size: float, sizes: tuple[int, ...] = SIZES) -> list[dict[str, Any]]:
    model_path = ensure()["embedder"]
    float32 = onnx.load(str(model_path))
    variants = {"float32": model_path, "float16": model_path.with_name(model_path.stem + "-fp16.onnx")}
    if not variants["float16"].is_file():
        onnx.save(to_float16(float32), str(variants["float16"]))
    common = {
        "benchmark": "gpu",
        "device": device_name(),
        "onnxruntime": ort.__version__,
        "host": platform.node(),
        "date": time.strftime("%Y-%m-%d"),
        "model": model_path.name,
    }
    records: list[dict[str, Any]] = []
    for provider in providers:
        for precision, path in variants.items():
            try:
                started = time.perf_counter()
                session = ort.InferenceSession(str(path), providers=[provider])
                load_s = time.perf_counter() - started
            except Exception as exc:  # noqa: BLE001 - one failed provider must not lose the others
                records.append(
                    {**common, "provider": provider, "precision": precision, "skipped": True, "reason": str(exc)[:300]}
                )
                continue
            if provider not in session.get_providers():
                reason = f"session fell back to {session.get_providers()}"
                records.append(
                    {**common, "provider": provider, "precision": precision, "skipped": True, "reason": reason}
                )
                continue
            options = session.get_provider_options().get(provider, {})
            extra = {"use_tf32": options["use_tf32"]} if "use_tf32" in options else {}
            input_name = session.get_inputs()[0].name
            output_name = session.get_outputs()[0].name
            for placement, runner in (
                ("host", _host_runner(session, input_name)),
                ("device", _device_runner(session, input_name, output_name)),
            ):
                rows = batch_throughput(runner, list(sizes), seconds_per_size)
                for row in rows:
                    records.append(
                        {
                            **common,
                            **extra,
                            "provider": provider,
                            "precision": precision,
                            "input": placement,
                            "session_s": load_s,
                            **row,
                        }
                    )
                    log.info(
                        "%s %s %s batch %d: %.0f crops/s",
                        provider,
                        precision,
                        placement,
                        row["batch_size"],
                        row["crops_per_s"],
                    )
            del session
    return records


def measure(seconds_per_size: float = 5.0) -> list[dict[str, Any]]:
    """The GPU row: measured here if this machine has a GPU provider, else the last device run's records."""
    providers = available_gpu_providers()
    if providers:
        return measure_here(providers, seconds_per_size)
    if DEVICE_RECORDS.is_file():
        records = json.loads(DEVICE_RECORDS.read_text())
        for record in records:
            record["source"] = f"{DEVICE_RECORDS.name} (python -m bench.gpu on {record.get('device', 'a GPU machine')})"
        return records
    return [
        {
            "benchmark": "gpu",
            "skipped": True,
            "reason": f"no CUDA/TensorRT provider in onnxruntime {ort.__version__} "
            f"(available: {ort.get_available_providers()}) and no earlier device run",
        }
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEVICE_RECORDS, help="where to write the records (JSON)")
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per batch size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    providers = available_gpu_providers()
    log.info(
        "onnxruntime %s, providers %s, GPU providers %s", ort.__version__, ort.get_available_providers(), providers
    )
    if not providers:
        raise SystemExit("no CUDA or TensorRT provider in this onnxruntime; install onnxruntime-gpu on a GPU machine")
    records = measure_here(providers, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=1) + "\n")
    log.info("wrote %d records to %s", len(records), args.out)


if __name__ == "__main__":
    main()
