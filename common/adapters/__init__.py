"""Adapters: one module per technology behind each port (see ``common/ports``).

Importing this package imports no client library: each adapter module imports its own, and
``common.adapters.build`` imports an adapter module only when the settings choose it. So the
cloud functions (Triton, Elasticsearch) never load onnxruntime or usearch.

onnxruntime must be loaded before usearch in a process that uses both: the two wheels bundle
their own C++ runtimes, and importing usearch first makes onnxruntime crash the process (see the
onnxruntime pin in pyproject.toml). ``common.embedded_index.usearch_index`` therefore imports onnxruntime first; it
is the only module that imports usearch.
"""
