"""The two models as the use cases see them: a logo detector and a crop embedder.

``common.inference.detector.Detector`` and ``common.inference.embedder.Embedder`` implement them over a
``ModelSession`` (onnxruntime in process, or Triton); tests pass small hand-written fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import PIL.Image

from common.domain import Detection


class LogoDetector(Protocol):
    @property
    def version(self) -> str:
        """Identifies the weights; recorded with every logo."""
        ...

    @property
    def standin(self) -> bool:
        """True when the weights are a stand-in the project built (their metadata says so)."""
        ...

    def detect(self, image: PIL.Image.Image) -> list[Detection]: ...


class CropEmbedder(Protocol):
    @property
    def version(self) -> str:
        """Identifies the weights; recorded with every embedding."""
        ...

    @property
    def standin(self) -> bool:
        """True when the weights are a stand-in the project built (their metadata says so)."""
        ...

    @property
    def recipe(self) -> str:
        """The crop preprocessing recipe (``robotoff-v1``); recorded with every embedding."""
        ...

    @property
    def dim(self) -> int:
        """Length of the vectors ``embed`` returns."""
        ...

    def embed(self, crops: Sequence[PIL.Image.Image]) -> np.ndarray:
        """One L2-normalised float32 row per crop."""
        ...
