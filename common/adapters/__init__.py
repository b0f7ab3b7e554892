"""Adapters: one module per technology behind each port (see ``common/ports``).

onnxruntime is imported here, before anything can import usearch: the two wheels bundle their
own C++ runtimes, and importing usearch first makes onnxruntime crash the process (see the
onnxruntime pin in pyproject.toml). Every adapter module lives in this package, so this import
always runs first.
"""

import onnxruntime  # noqa: F401  (must precede usearch; see pyproject)
