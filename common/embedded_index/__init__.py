"""The embedded ANN index: the ``VectorIndex`` of one machine, with no server.

Its public surface is two classes, each behind the ``VectorIndex`` port:

- ``PackedIndex`` (``LOGO_ANN_INDEX=packed``, the default): the project's own HNSW engine over
  int8 codes with a residual re-rank (``_packed_hnsw.c``, loaded through ctypes; see
  ``docs/packed-engine.md``);
- ``UsearchIndex`` (``LOGO_ANN_INDEX=usearch``): usearch's HNSW.

Both are derived from the metadata store (they catch up from its change log and reload files
written by other processes). The modules named with a leading underscore are their internals:
the engine and its binding, the int8 codec, the index files and their persistence.

Importing the package loads neither the engine nor usearch: each class is imported when first
named (``common.adapters.build`` names one only when the settings choose it).

onnxruntime must be loaded before usearch in a process that uses both: the two wheels bundle
their own C++ runtimes, and importing usearch first makes onnxruntime crash the process (see the
onnxruntime pin in pyproject.toml). ``usearch_index`` and ``_usearch_query``, the only modules that import usearch,
therefore import onnxruntime first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.embedded_index.packed_index import PackedIndex
    from common.embedded_index.usearch_index import UsearchIndex

__all__ = ["PackedIndex", "UsearchIndex"]

_HOMES = {"PackedIndex": "packed_index", "UsearchIndex": "usearch_index"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
