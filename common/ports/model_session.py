"""A model runner shaped like onnxruntime's ``run(output_names, feeds)``.

Implemented by ``OnnxSession`` (in-process) and ``TritonSession`` (remote Triton over HTTP);
tests pass a five-line fake.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

# The metadata entry that marks weights the project built itself (``offline.models``): a
# deployment serving them finds logos and neighbours that mean nothing, and says so.
STANDIN_METADATA_KEY = "logo_ann_standin"


def is_standin(metadata: Mapping[str, str]) -> bool:
    """True when a model's custom metadata marks it as a stand-in."""
    return metadata.get(STANDIN_METADATA_KEY, "").lower() == "true"


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int | str | None, ...]  # str/None for a dynamic axis
    dtype: str  # numpy dtype name: "float32", "int64", ...


class ModelSession(Protocol):
    @property
    def version(self) -> str:
        """Identifies the weights (file sha256 prefix, or Triton model version)."""
        ...

    @property
    def max_batch_size(self) -> int:
        """Largest batch a single ``run`` accepts; 0 means no limit."""
        ...

    def inputs(self) -> Sequence[TensorSpec]: ...

    def outputs(self) -> Sequence[TensorSpec]: ...

    def metadata(self) -> Mapping[str, str]:
        """Custom metadata of the model (for YOLO exports: ``names``, ``imgsz``...)."""
        ...

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]: ...
