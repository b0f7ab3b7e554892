"""``OnnxSession``: the in-process ``ModelSession`` on onnxruntime (the embedded default).

onnxruntime's exceptions are translated at this boundary: a missing, unreadable or invalid model
file, or feeds that break the model's declared inputs, raise ``ModelError`` (permanent); a failure
inside the runtime while running a valid model raises ``DependencyError`` (transient).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

# Imported at module top on purpose: onnxruntime must be loaded before usearch in a process.
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from common.errors import DependencyError, ModelError
from common.ports.model_session import TensorSpec

logger = logging.getLogger(__name__)

_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}

_CONTRACT_ERRORS = (ort_state.InvalidArgument, ort_state.InvalidGraph, ort_state.NotImplemented, ValueError)


def file_version(path: Path) -> str:
    """The first 12 hex digits of the file's sha256: identifies the weights."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


class OnnxSession:
    """An onnxruntime ``InferenceSession`` behind the ``ModelSession`` port."""

    def __init__(self, path: str | Path, *, threads: int = 0, providers: Sequence[str] | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(
                f"ONNX model file not found: {self.path.absolute()}; run `logo-ann models fetch` (or `models "
                "prepare` for stand-ins) in the folder the paths are relative to, or set LOGO_ANN_DETECTOR_MODEL "
                "and LOGO_ANN_EMBEDDER_MODEL"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(0, threads)
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as exc:  # onnxruntime raises its own pybind types for every load failure
            raise ModelError(f"cannot load ONNX model {self.path}: {exc}") from exc
        self._version = file_version(self.path)
        self._inputs = tuple(_spec(arg) for arg in self._session.get_inputs())
        self._outputs = tuple(_spec(arg) for arg in self._session.get_outputs())
        self._metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        logger.info("loaded ONNX model %s (version %s)", self.path, self._version)

    @property
    def version(self) -> str:
        return self._version

    @property
    def max_batch_size(self) -> int:
        shape = self._inputs[0].shape if self._inputs else ()
        first = shape[0] if shape else None
        return first if isinstance(first, int) and first > 0 else 0

    def inputs(self) -> Sequence[TensorSpec]:
        return self._inputs

    def outputs(self) -> Sequence[TensorSpec]:
        return self._outputs

    def metadata(self) -> Mapping[str, str]:
        return dict(self._metadata)

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        expected = {spec.name for spec in self._inputs}
        if set(feeds) != expected:
            raise ModelError(f"model {self.path.name} expects inputs {sorted(expected)}, got {sorted(feeds)}")
        names = list(output_names) if output_names else None
        try:
            results = self._session.run(names, dict(feeds))
        except _CONTRACT_ERRORS as exc:
            raise ModelError(f"model {self.path.name} rejected its inputs: {exc}") from exc
        except Exception as exc:  # ort_state.Fail / RuntimeException: the runtime itself failed
            raise DependencyError("onnxruntime", f"running {self.path.name} failed: {exc}") from exc
        return [np.asarray(result) for result in results]


def _spec(arg: ort.NodeArg) -> TensorSpec:
    shape = tuple(dim if isinstance(dim, int) else (str(dim) if dim is not None else None) for dim in arg.shape)
    return TensorSpec(name=arg.name, shape=shape, dtype=_DTYPES.get(arg.type, str(arg.type)))
