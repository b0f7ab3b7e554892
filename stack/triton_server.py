"""A real Triton Inference Server (PyTriton) serving the project's ONNX models on the CPU.

Runs in its own virtual environment (PyTriton pins ``numpy<2``)::

    /usr/bin/python3 -m venv .venv-triton
    .venv-triton/bin/pip install nvidia-pytriton==0.7.0 onnxruntime==1.22.1 'numpy<2'
    .venv-triton/bin/python stack/triton_server.py --http-port 8000 --grpc-port 8001 \
        --metrics-port 8002 --detector models/detector.onnx --embedder models/embedder.onnx

Each ONNX file is run by onnxruntime inside a Python callable bound under the production model
name and tensor names: the detector ``universal_logo_detector_yolo`` (no server-side batching:
its tensors keep the ONNX shapes, as Triton shows a ``max_batch_size: 0`` model) and the
embedder ``clip`` (``max_batch_size`` 32 with dynamic batching; every input the ONNX graph
declares, so Robotoff's full-CLIP export also takes ``input_ids`` and ``attention_mask``).
SIGTERM stops the server and removes its workspace. Standalone: imports nothing from the project.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

log = logging.getLogger("triton_server")

DETECTOR_NAME = "universal_logo_detector_yolo"
EMBEDDER_NAME = "clip"
EMBEDDER_MAX_BATCH = 32
EMBEDDER_OUTPUT = "image_embeds"  # the full-CLIP export's text and logits outputs stay unexposed
_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,  # the uint8-input wrapper (offline/models/uint8_input.py)
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _tensors(args: Sequence[Any], batched: bool) -> list[Tensor]:
    """PyTriton tensor specs from onnxruntime's; a batched model drops the leading batch axis."""
    specs = []
    for arg in args:
        dims = [dim if isinstance(dim, int) and dim > 0 else -1 for dim in arg.shape]
        if batched:
            dims = dims[1:]
        specs.append(Tensor(name=arg.name, dtype=_ORT_TYPES[arg.type], shape=tuple(dims)))
    return specs


def _per_request(session: ort.InferenceSession) -> Callable[[list[Any]], list[dict[str, np.ndarray]]]:
    names = [out.name for out in session.get_outputs()]

    def infer(requests: list[Any]) -> list[dict[str, np.ndarray]]:
        responses = []
        for request in requests:
            feeds = {name: np.asarray(request[name]) for name in request}
            responses.append(dict(zip(names, session.run(names, feeds), strict=True)))
        return responses

    return infer


def _batched(session: ort.InferenceSession, names: list[str]) -> Callable[..., dict[str, np.ndarray]]:

    @batch  # type: ignore[untyped-decorator]  # PyTriton (its own venv) is not installed where mypy runs
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, inputs), strict=True))

    return infer  # type: ignore[no-any-return]


def bind_models(triton: Triton, detector: Path | None, embedder: Path | None) -> None:
    if detector is not None:
        session = _session(detector)
        triton.bind(
            model_name=DETECTOR_NAME,
            infer_func=_per_request(session),
            inputs=_tensors(session.get_inputs(), batched=False),
            outputs=_tensors(session.get_outputs(), batched=False),
            config=ModelConfig(batching=False),
            strict=True,
        )
    if embedder is not None:
        session = _session(embedder)
        outputs = [out for out in session.get_outputs() if out.name == EMBEDDER_OUTPUT]
        triton.bind(
            model_name=EMBEDDER_NAME,
            infer_func=_batched(session, [EMBEDDER_OUTPUT]),
            inputs=_tensors(session.get_inputs(), batched=True),
            outputs=_tensors(outputs, batched=True),
            config=ModelConfig(max_batch_size=EMBEDDER_MAX_BATCH, batcher=DynamicBatcher()),
            strict=True,
        )


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--detector", type=Path, help="detector ONNX file")
    parser.add_argument("--embedder", type=Path, help="embedder ONNX file")
    parser.add_argument("--workspace", type=Path, help="PyTriton workspace (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.detector is None and args.embedder is None:
        parser.error("give --detector and/or --embedder")
    return args


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # Triton.serve() stops the server and cleans its workspace on it


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    config = TritonConfig(
        http_address=args.host,
        http_port=args.http_port,
        grpc_address=args.host,
        grpc_port=args.grpc_port,
        metrics_address=args.host,
        metrics_port=args.metrics_port,
        allow_gpu_metrics=False,
        exit_timeout_secs=2,
    )
    triton = Triton(config=config, workspace=args.workspace)
    try:
        bind_models(triton, args.detector, args.embedder)
        log.info("serving on http://%s:%d", args.host, args.http_port)
        triton.serve()
    except KeyboardInterrupt:
        pass
    finally:
        triton.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
