"""The compiled packed HNSW engine (``_packed_hnsw.c``) seen from Python: its graph struct and calls.

The library is built with the package (a C extension module, ``_packed_hnsw_lib``, that exports
plain C functions) and loaded through ``ctypes``, which releases the GIL for each call. On load,
the engine's ABI version and ``sizeof(graph_t)`` must match ``ABI_VERSION`` and ``_Graph`` here
(a library built from another version of the C file is refused), and every array argument is
declared with its dtype, rank and C order, so ``ctypes`` refuses any other array. ``LIBRARY_ENV``,
when set, names another build of the same file to load instead (``make test-engine-sanitized``
points it at one built with AddressSanitizer and UndefinedBehaviorSanitizer).
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.util
import os
from typing import Any

import numpy as np

from common.errors import ConfigError, InternalError

ABI_VERSION = 8  # PH_ABI_VERSION in _packed_hnsw.c
LIBRARY_ENV = "LOGO_ANN_PACKED_HNSW_LIB"
MAX_LEVEL = 16
MAX_LINKS = 255  # PH_MAX_LINKS: m and m0 at most
PAD = 8  # bytes after the last level-0 row: a link is read and written as 8 bytes
ENOMEM, EPARAM, ECORRUPT = -1, -2, -3  # the engine's error codes
_P = ctypes.c_void_p


class _Graph(ctypes.Structure):
    _fields_ = [
        ("dim", ctypes.c_int32),
        ("m0", ctypes.c_int32),
        ("m", ctypes.c_int32),
        ("bits", ctypes.c_int32),
        ("row_bytes", ctypes.c_int64),
        ("codes", _P),
        ("norms", _P),
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


_GraphP = ctypes.POINTER(_Graph)


def _array(dtype: type, ndim: int, writes: bool = False) -> type:
    """An argument type that takes only aligned C-ordered arrays of ``dtype`` and rank ``ndim``
    (writable ones where the engine writes)."""
    if writes:
        return np.ctypeslib.ndpointer(dtype, ndim, flags=("C_CONTIGUOUS", "ALIGNED", "WRITEABLE"))
    return np.ctypeslib.ndpointer(dtype, ndim, flags=("C_CONTIGUOUS", "ALIGNED"))


_LIB: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """The compiled engine (built with the package, ``common/embedded_index/_packed_hnsw.c``)."""
    global _LIB
    if _LIB is None:
        path = os.environ.get(LIBRARY_ENV) or _packaged()
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            raise ConfigError(f"the packed index's library {path} does not load: {exc}") from exc
        _LIB = declared(checked_abi(lib, path))
    return _LIB


def _packaged() -> str:
    spec = importlib.util.find_spec("common.embedded_index._packed_hnsw_lib")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the packed index's compiled library is missing: reinstall the package with a C compiler "
            "(`pip install -e .`), or set LOGO_ANN_INDEX=usearch"
        )
    return spec.origin


def checked_abi(lib: ctypes.CDLL, path: str) -> ctypes.CDLL:
    """``lib``, when it was built from the C file this binding describes; ``ConfigError`` otherwise."""
    try:
        lib.ph_abi_version.restype, lib.ph_abi_version.argtypes = ctypes.c_int, []
        lib.ph_graph_bytes.restype, lib.ph_graph_bytes.argtypes = ctypes.c_int64, []
        found = (lib.ph_abi_version(), lib.ph_graph_bytes())
    except AttributeError:
        found = (0, 0)  # built before the engine reported its ABI
    wanted = (ABI_VERSION, ctypes.sizeof(_Graph))
    if found != wanted:
        raise ConfigError(
            f"the packed index's library {path} has ABI {found[0]} with a {found[1]}-byte graph, this code "
            f"wants ABI {wanted[0]} with a {wanted[1]}-byte graph: rebuild it (`pip install -e .`)"
        )
    return lib


def declared(lib: ctypes.CDLL) -> ctypes.CDLL:
    """``lib`` with every function's argument and result types set."""
    c_int, c_u32, c_i64, c_f32 = ctypes.c_int, ctypes.c_uint32, ctypes.c_int64, ctypes.c_float
    u8, u32 = np.uint8, np.uint32
    signatures: dict[str, tuple[type | None, list[type]]] = {
        "ph_search": (c_int, [_GraphP, c_u32, _array(np.int8, 2), c_int, c_int, c_int,
                              _array(u32, 2, writes=True), _array(np.float32, 2, writes=True)]),
        "ph_search_refined": (c_int, [_GraphP, c_u32, _array(u8, 2), _array(np.int8, 2), _array(np.float32, 2),
                                      c_int, c_int, c_int, c_int, c_int, c_f32, _array(u32, 2, writes=True),
                                      _array(np.float32, 2, writes=True)]),
        "ph_query": (c_int, [_GraphP, c_u32, _P, _P, _P, _P, c_int, c_int, c_int, c_int, c_f32, c_i64,
                             ctypes.POINTER(c_i64), ctypes.POINTER(ctypes.c_double)]),
        "ph_turn": (c_int, [_array(np.float32, 2), c_i64, c_int, _array(np.float32, 1),
                            _array(np.float32, 2, writes=True)]),
        "ph_query_code": (None, [_array(np.float32, 1), c_int, _array(np.int8, 1, writes=True)]),
        "ph_insert": (c_int, [_GraphP, c_int, _array(np.int32, 1), _array(u32, 1), c_int, _array(u32, 2), c_int]),
        "ph_insert_parallel": (c_int, [_GraphP, c_int, _array(np.int32, 1), _array(u32, 1), c_int, c_int,
                                       _array(u32, 2), c_int]),
        "ph_seed_merge": (c_int, [_array(np.float32, 2), c_int, c_int, _array(u32, 1), _array(u32, 1),
                                  _array(u32, 1), c_int, c_i64, _array(u32, 2, writes=True),
                                  _array(np.float32, 2, writes=True)]),
        "ph_repack": (c_int, [_array(u8, 1), c_int, c_i64, _array(u8, 1, writes=True), c_int, c_i64, c_int, c_u32]),
        "ph_unpack": (c_int, [_GraphP, c_u32, c_u32, _array(u32, 2, writes=True)]),
        "ph_check": (c_int, [_GraphP]),
        "ph_norms": (c_int, [_GraphP, c_u32, c_u32]),
        "ph_kernel": (c_int, [c_int]),
        "ph_scratch_live": (c_i64, []),
    }  # fmt: skip
    for name, (result, arguments) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = result, arguments
    lib.ph_kernel(-1)
    return lib


def checked(rc: int, doing: str) -> None:
    """Raise for an engine call's error code: its parameters refused, memory, a corrupt graph."""
    if rc == EPARAM:
        raise ConfigError(
            f"packed index: the engine refused the graph's parameters while {doing} (it takes "
            f"2 <= m, m0 <= {MAX_LINKS}, 8 to 32 bits per link, levels up to {MAX_LEVEL})"
        )
    if rc == ENOMEM:
        raise InternalError(f"packed index: out of memory while {doing}")
    if rc != 0:
        raise InternalError(f"packed index: the graph is inconsistent ({doing})")


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
    norms: np.ndarray  # float32 [capacity]: |code| of each slot, computed by the engine
    residuals: np.ndarray  # uint8 [capacity][(dim + 1) // 2]: 4 more bits per component (re-ranking)
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
    # the engine's view of these arrays and counts, built by the first search (never copied by
    # ``dataclasses.replace``: a published state is not changed, a new one gets its own)
    searched: _Graph | None = dataclasses.field(default=None, init=False, repr=False, compare=False)
    # ``ph_query``'s first arguments for this state: the graph's address, count, residuals, keys
    queried: tuple[Any, ...] | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    @property
    def capacity(self) -> int:
        return len(self.codes)
