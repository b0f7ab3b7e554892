"""Adapters: one module per technology behind each port (see ``common/ports``).

Importing this package imports no client library: each adapter module imports its own, and
``common.adapters.build`` imports an adapter module only when the settings choose it. So the
cloud functions (Triton, Elasticsearch) never load onnxruntime or usearch. The embedded index
(``common.embedded_index``) is an adapter too, in a package of its own.
"""
