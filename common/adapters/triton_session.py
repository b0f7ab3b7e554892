"""A ``ModelSession`` that runs a model on a remote Triton Inference Server over HTTP.

The model's tensors, batch limit, version and custom parameters are read once from the
server. ``run`` splits a batch larger than the model's ``max_batch_size`` into several requests
and concatenates the outputs, so callers never need to know the server's limit.

Errors::

    server down, connection refused, timeout, 5xx, 429, model not ready  -> DependencyError("triton")
    400 (wrong shape or dtype), unknown input name, client-side encoding  -> ModelError
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException, np_to_triton_dtype, triton_to_np_dtype

from common.errors import DependencyError, ModelError
from common.ports.model_session import TensorSpec

log = logging.getLogger(__name__)


class TritonSession:
    """``ModelSession`` over ``tritonclient.http``; checks the server and the model at start."""

    def __init__(self, url: str, model_name: str, *, timeout_s: float = 30.0, client: Any = None) -> None:
        self.url = url
        self.model_name = model_name
        self.timeout_s = timeout_s
        # tritonclient's HTTP client (geventhttpclient) ties its connections to the thread that
        # opened them: every thread gets its own client, so concurrent requests are safe.
        self._injected = client
        self._local = threading.local()
        if not self._call("is_server_live"):
            raise DependencyError("triton", f"server at {url} is not live")
        if not self._call("is_model_ready", model_name):
            raise DependencyError("triton", f"model {model_name!r} is not ready on {url}")
        metadata = self._call("get_model_metadata", model_name)
        config = self._call("get_model_config", model_name)
        self._inputs = [_spec(item) for item in metadata.get("inputs", [])]
        self._outputs = [_spec(item) for item in metadata.get("outputs", [])]
        self._max_batch_size = int(config.get("max_batch_size", 0) or 0)
        self._version = f"triton:{model_name}:{_latest(metadata.get('versions') or [])}"
        self._metadata = _parameters(config.get("parameters") or {})
        log.info("Triton model %s ready at %s (max_batch_size %d)", self._version, url, self._max_batch_size)

    @property
    def version(self) -> str:
        return self._version

    @property
    def max_batch_size(self) -> int:
        return self._max_batch_size

    def inputs(self) -> Sequence[TensorSpec]:
        return list(self._inputs)

    def outputs(self) -> Sequence[TensorSpec]:
        return list(self._outputs)

    def metadata(self) -> Mapping[str, str]:
        return dict(self._metadata)

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        names = list(output_names) if output_names is not None else [spec.name for spec in self._outputs]
        arrays = self._checked_feeds(feeds)
        parts: list[list[np.ndarray]] = [self._infer(names, chunk) for chunk in self._chunks(arrays)]
        if len(parts) == 1:
            return parts[0]
        return [np.concatenate([part[i] for part in parts], axis=0) for i in range(len(names))]

    def close(self) -> None:
        client = getattr(self._local, "client", None)
        if client is not None and client is not self._injected:
            client.close()
            self._local.client = None

    @property
    def _client(self) -> Any:
        if self._injected is not None:
            return self._injected
        client = getattr(self._local, "client", None)
        if client is None:
            client = triton_http.InferenceServerClient(
                self.url, connection_timeout=self.timeout_s, network_timeout=self.timeout_s
            )
            self._local.client = client
        return client

    # --- internals ----------------------------------------------------------------------
    def _checked_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        declared = {spec.name: spec for spec in self._inputs}
        unknown = sorted(set(feeds) - set(declared))
        if unknown:
            raise ModelError(f"{self.model_name}: unknown inputs {unknown}; the model takes {sorted(declared)}")
        return {name: np.ascontiguousarray(array, dtype=declared[name].dtype) for name, array in feeds.items()}

    def _chunks(self, feeds: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        sizes = {array.shape[0] if array.ndim else 1 for array in feeds.values()}
        total = max(sizes) if sizes else 0
        step = self._max_batch_size
        if step <= 0 or total <= step:
            yield feeds
            return
        if len(sizes) != 1:
            raise ModelError(f"{self.model_name}: inputs disagree on the batch size: {sorted(sizes)}")
        for start in range(0, total, step):
            yield {name: array[start : start + step] for name, array in feeds.items()}

    def _infer(self, names: Sequence[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        try:
            inputs = []
            for name, array in feeds.items():
                item = triton_http.InferInput(name, list(array.shape), _triton_dtype(array))
                item.set_data_from_numpy(array, binary_data=True)
                inputs.append(item)
        except InferenceServerException as exc:
            raise ModelError(f"{self.model_name}: cannot encode inputs: {exc}") from exc
        outputs = [triton_http.InferRequestedOutput(name, binary_data=True) for name in names]
        result = self._call("infer", self.model_name, inputs, outputs=outputs)
        arrays = [result.as_numpy(name) for name in names]
        missing = [name for name, array in zip(names, arrays, strict=True) if array is None]
        if missing:
            raise ModelError(f"{self.model_name}: the server returned no {missing}")
        return arrays

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except InferenceServerException as exc:
            raise _server_error(exc, self.model_name) from exc
        except Exception as exc:  # geventhttpclient raises socket, timeout and parser errors
            raise DependencyError("triton", f"{self.url} ({self.model_name}): {type(exc).__name__}: {exc}") from exc


def _server_error(exc: InferenceServerException, model_name: str) -> Exception:
    status = str(exc.status() or "")
    text = f"{model_name}: {exc.message()}"
    if status.startswith("4") and status not in ("404", "408", "429"):
        return ModelError(text)
    return DependencyError("triton", f"{text} (status {status or 'none'})")


def _spec(item: Mapping[str, Any]) -> TensorSpec:
    shape = tuple(None if int(dim) < 0 else int(dim) for dim in item.get("shape", []))
    return TensorSpec(str(item["name"]), shape, np.dtype(triton_to_np_dtype(item["datatype"])).name)


def _triton_dtype(array: np.ndarray) -> str:
    return str(np_to_triton_dtype(array.dtype))


def _latest(versions: Sequence[str]) -> str:
    if not versions:
        return "1"
    return max(versions, key=lambda v: (int(v) if str(v).isdigit() else -1, str(v)))


def _parameters(parameters: Mapping[str, Any]) -> dict[str, str]:
    result = {}
    for key, value in parameters.items():
        result[str(key)] = str(value.get("string_value", "")) if isinstance(value, Mapping) else str(value)
    return result
