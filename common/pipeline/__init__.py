"""Use cases: detect an image, embed and index its logos, search neighbours.

They depend only on ports (``common.ports``) and pure code; adapters are injected.
"""
