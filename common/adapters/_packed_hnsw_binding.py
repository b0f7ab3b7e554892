"""The compiled packed HNSW engine (``_packed_hnsw.c``) seen from Python: its graph struct and calls.

The library is built with the package (a C extension module, ``_packed_hnsw_lib``, that exports
plain C functions) and loaded through ``ctypes``, which releases the GIL for each call.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.util

import numpy as np

from common.errors import ConfigError

MAX_LEVEL = 16
PAD = 8  # bytes after the last level-0 row: a link is read and written as 8 bytes
_P = ctypes.c_void_p


class _Graph(ctypes.Structure):
    _fields_ = [
        ("dim", ctypes.c_int32),
        ("m0", ctypes.c_int32),
        ("m", ctypes.c_int32),
        ("bits", ctypes.c_int32),
        ("row_bytes", ctypes.c_int64),
        ("codes", _P),
        ("links0", _P),
        ("dead", _P),
        ("up_slot", _P),
        ("up_level", _P),
        ("up_off", _P),
        ("up_links", _P),
        ("up_used", ctypes.c_int64),
        ("n_upper", ctypes.c_uint32),
        ("count", ctypes.c_uint32),
        ("entry", ctypes.c_int32),
        ("entry_slot", ctypes.c_uint32),
        ("max_level", ctypes.c_int32),
    ]


_LIB: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """The compiled engine (built with the package, ``common/adapters/_packed_hnsw.c``)."""
    global _LIB
    if _LIB is None:
        spec = importlib.util.find_spec("common.adapters._packed_hnsw_lib")
        if spec is None or spec.origin is None:
            raise ConfigError(
                "the packed index's compiled library is missing: reinstall the package with a C compiler "
                "(`pip install -e .`), or set LOGO_ANN_INDEX=usearch"
            )
        lib = ctypes.CDLL(spec.origin)
        lib.ph_search.restype = ctypes.c_int
        lib.ph_search.argtypes = [_P, ctypes.c_uint32, _P, ctypes.c_int, ctypes.c_int, ctypes.c_int, _P, _P]
        lib.ph_insert.restype = ctypes.c_int
        lib.ph_insert.argtypes = [_P, ctypes.c_int, _P, _P, ctypes.c_int]
        lib.ph_repack.restype = None
        lib.ph_repack.argtypes = [
            _P, ctypes.c_int, ctypes.c_int64, _P, ctypes.c_int, ctypes.c_int64, ctypes.c_int, ctypes.c_uint32
        ]  # fmt: skip
        lib.ph_unpack.restype = None
        lib.ph_unpack.argtypes = [_P, ctypes.c_uint32, ctypes.c_uint32, _P]
        lib.ph_kernel.restype = ctypes.c_int
        lib.ph_kernel.argtypes = [ctypes.c_int]
        lib.ph_kernel(-1)
        _LIB = lib
    return _LIB


def kernel(wanted: int = -2) -> str:
    """The distance kernel in use ("scalar", "avx2", "avx512-vnni"); ``wanted`` -1 picks the best
    this CPU has, 0 / 1 force scalar / AVX2 (tests compare them)."""
    return ("scalar", "avx2", "avx512-vnni")[library().ph_kernel(wanted)]


def bits_for(capacity: int) -> int:
    """Bits per link for ``capacity`` slots: every slot number and one spare value (the list end)."""
    return max(8, int(capacity).bit_length())


def row_bytes(m0: int, bits: int) -> int:
    return -(-m0 * bits // 8)


@dataclasses.dataclass
class _Arrays:
    """One consistent set of arrays and counts; a search holds it for its whole call."""

    codes: np.ndarray
    links0: np.ndarray
    dead: np.ndarray
    keys: np.ndarray
    up_slot: np.ndarray
    up_level: np.ndarray
    up_off: np.ndarray
    up_links: np.ndarray
    bits: int
    count: int = 0
    n_upper: int = 0
    up_used: int = 0
    entry: int = -1
    entry_slot: int = 0
    max_level: int = -1

    @property
    def capacity(self) -> int:
        return len(self.codes)
