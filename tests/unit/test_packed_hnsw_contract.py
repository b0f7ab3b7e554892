"""The packed HNSW engine's contract with its binding: parameters it refuses on its own, upper rows it
clamps and checks, a struct it shares only with a library of its own version, typed array arguments."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from common.embedded_index import _packed_hnsw as ph
from common.embedded_index import _packed_hnsw_binding as binding
from common.embedded_index._int8_codec import Int8Codec
from common.errors import ConfigError, InternalError
from tests.index_support import unit_rows

DIM = 16
NONE = np.iinfo(np.uint32).max


@pytest.fixture
def codes() -> np.ndarray:
    return Int8Codec(DIM).encode(unit_rows(np.random.default_rng(41), 3_000, DIM, clusters=30))


def graph_of(codes: np.ndarray, m: int = 4) -> ph.PackedGraph:
    graph = ph.PackedGraph(DIM, m=m, expansion_add=32)  # m = 4: one node in 8 above level 0
    graph.add(np.arange(len(codes)), codes)
    return graph


def upper_rows(graph: ph.PackedGraph, level: int) -> list[int]:
    """Offsets in ``up_links`` of every upper row at ``level`` (where its count is)."""
    a = graph.state
    nodes = np.flatnonzero(a.up_level[: a.n_upper] >= level)
    return [int(a.up_off[u]) + (level - 1) * (1 + graph.m) for u in nodes]


def finds_itself(graph: ph.PackedGraph, codes: np.ndarray) -> float:
    """The share of every 10th code whose search finds it first: its own slot, or a slot holding the
    same code (an exact tie, which the engine may rank either way)."""
    queries = codes[::10]
    slots, _ = graph.search(queries, 1, 32)
    found = slots[:, 0]
    same = (found != NONE) & (graph.state.codes[np.minimum(found, graph.state.count - 1)] == queries).all(axis=1)
    return float(same.mean())


@pytest.mark.parametrize(("field", "value"), [("m0", 256), ("m0", 1_000), ("m", 256), ("m", 1)])
def test_the_engine_refuses_more_links_than_its_buffers_hold(codes: np.ndarray, field: str, value: int) -> None:
    graph = graph_of(codes[:500])
    before = graph.links()
    setattr(graph, field, value)  # past the constructor's check: the engine checks on its own
    with pytest.raises(ConfigError, match="m0 <= 255"):
        graph.add(np.arange(500, 510), codes[500:510])
    with pytest.raises(ConfigError, match="m0 <= 255"):
        graph.search(codes[:3], 5, 16)
    with pytest.raises(ConfigError, match="m0 <= 255"):
        graph.links()
    setattr(graph, field, {"m0": 8, "m": 4}[field])
    assert graph.state.count == 500 and np.array_equal(graph.links(), before)  # nothing was written


def test_the_largest_lists_the_engine_takes_work() -> None:
    rows = Int8Codec(8).encode(unit_rows(np.random.default_rng(42), 400, 8))
    graph = ph.PackedGraph(8, m=binding.MAX_LINKS, m0=binding.MAX_LINKS)
    graph.add(np.arange(400), rows)
    assert (graph.links()[:, 0] != NONE).all()
    assert (graph.search(rows[:20], 1, 64)[0][:, 0] == np.arange(20)).all()


def test_upper_counts_are_clamped_on_read(codes: np.ndarray) -> None:
    graph = graph_of(codes)
    rows = upper_rows(graph, 1)
    assert len(rows) > 200
    graph.state.up_links[rows] = 0xFFFF_FFF0  # a count no row has room for: read as m
    assert finds_itself(graph, codes) > 0.95
    graph.add(np.arange(3_000, 3_100), codes[:100])  # inserts read (and rewrite) those rows too
    assert graph.state.count == 3_100 and finds_itself(graph, codes) > 0.95


def saved_arrays(graph: ph.PackedGraph, path: Path) -> dict[str, np.ndarray]:
    graph.save(str(path))
    with np.load(path) as saved:
        return {name: saved[name].copy() for name in saved.files}


def resave(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]


def count_past_m_at_level_2(graph: ph.PackedGraph, arrays: dict[str, np.ndarray]) -> None:
    arrays["up_links"][upper_rows(graph, 2)[0]] = graph.m + 1


def link_to_a_node_below_the_level(graph: ph.PackedGraph, arrays: dict[str, np.ndarray]) -> None:
    low = int(np.flatnonzero(arrays["up_level"] == 1)[0])
    row = next(r for r in upper_rows(graph, 2) if arrays["up_links"][r] > 0)
    arrays["up_links"][row + 1] = low


def link_past_the_last_upper_node(graph: ph.PackedGraph, arrays: dict[str, np.ndarray]) -> None:
    row = next(r for r in upper_rows(graph, 1) if arrays["up_links"][r] > 0)
    arrays["up_links"][row + 1] = graph.state.n_upper


def rows_past_up_links(graph: ph.PackedGraph, arrays: dict[str, np.ndarray]) -> None:
    arrays["up_off"][-1] = len(arrays["up_links"]) - graph.m


def entry_below_the_top(graph: ph.PackedGraph, arrays: dict[str, np.ndarray]) -> None:
    arrays["head"][9] -= 1  # max_level: the entry point's level no longer


def removed_past_the_end(graph: ph.PackedGraph, arrays: dict[str, np.ndarray]) -> None:
    arrays["dead"][-1] |= 0x80


@pytest.mark.parametrize(
    "damage",
    [
        count_past_m_at_level_2,
        link_to_a_node_below_the_level,
        link_past_the_last_upper_node,
        rows_past_up_links,
        entry_below_the_top,
        removed_past_the_end,
    ],
)
def test_load_refuses_upper_rows_the_engine_could_not_follow(
    codes: np.ndarray, tmp_path: Path, damage: Callable[[ph.PackedGraph, dict[str, np.ndarray]], None]
) -> None:
    graph = graph_of(codes)
    path = tmp_path / "graph.npz"
    arrays = saved_arrays(graph, path)
    fresh = ph.PackedGraph(DIM, m=4, expansion_add=32)
    fresh.load(str(path))  # the file as saved loads
    assert np.array_equal(fresh.links(), graph.links())
    damage(graph, arrays)
    resave(path, arrays)
    with pytest.raises(InternalError, match="inconsistent"):
        ph.PackedGraph(DIM, m=4, expansion_add=32).load(str(path))


def test_the_binding_refuses_a_library_of_another_abi(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = ph.library()
    assert binding.checked_abi(lib, "engine") is lib
    monkeypatch.setattr(binding, "ABI_VERSION", binding.ABI_VERSION + 1)
    with pytest.raises(ConfigError, match="rebuild"):
        binding.checked_abi(lib, "engine")
    monkeypatch.undo()

    class Longer(ctypes.Structure):
        _fields_ = [*binding._Graph._fields_, ("extra", ctypes.c_int64)]

    monkeypatch.setattr(binding, "_Graph", Longer)
    with pytest.raises(ConfigError, match="byte graph"):
        binding.checked_abi(lib, "engine")
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="ABI 0"):  # a library that does not report one
        binding.checked_abi(ctypes.CDLL(None), "libc")


def test_a_library_named_in_the_environment_is_loaded_and_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(binding, "_LIB", None)
    monkeypatch.setenv(binding.LIBRARY_ENV, str(tmp_path / "missing.so"))
    with pytest.raises(ConfigError, match="missing.so"):
        binding.library()


def test_array_arguments_must_have_the_declared_dtype_and_order(codes: np.ndarray) -> None:
    graph = graph_of(codes[:300])
    a, lib = graph.state, ph.library()
    struct = ctypes.byref(graph._struct(a))
    queries = np.ascontiguousarray(codes[:4])
    slots, sims = np.empty((4, 5), np.uint32), np.empty((4, 5), np.float32)
    assert lib.ph_search(struct, a.count, queries, 4, 5, 16, slots, sims) == 0
    assert (slots[:, 0] == np.arange(4)).all()
    wide = np.zeros((4, 2 * DIM), np.int8)
    wrong = [
        (queries.astype(np.int16), slots, sims),  # dtype
        (wide[:, ::2], slots, sims),  # not contiguous
        (np.asfortranarray(queries), slots, sims),  # Fortran order
        (queries.reshape(-1), slots, sims),  # rank
        (queries, slots.astype(np.int64), sims),
        (queries, slots, sims.astype(np.float64)),
    ]
    frozen = slots.copy()
    frozen.flags.writeable = False
    wrong.append((queries, frozen, sims))  # an output it cannot write
    for q, s, d in wrong:
        with pytest.raises(ctypes.ArgumentError):
            lib.ph_search(struct, a.count, q, 4, 5, 16, s, d)
    with pytest.raises(ctypes.ArgumentError):
        lib.ph_insert(struct, 1, np.zeros(1, np.int64), np.zeros(1, np.uint32), 32, ph.NO_SEEDS, 0)
