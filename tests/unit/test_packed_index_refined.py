"""The packed index's 4-bit residuals: codes refined by them, searches re-ranked with them, and a saved
index of the format before them rebuilt from the store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.embedded_index import _index_files as files
from common.embedded_index import _packed_hnsw as ph
from common.embedded_index._int8_codec import LEVELS, RESIDUAL_STEPS, Int8Codec
from common.embedded_index.packed_index import PackedIndex
from tests.index_support import FakeStore, unit_rows


def refined(codes: np.ndarray, residuals: np.ndarray, dim: int) -> np.ndarray:
    """code + r / RESIDUAL_STEPS per component, the nibbles read as the engine reads them."""
    steps = np.stack([residuals & 15, residuals >> 4], axis=2).reshape(len(residuals), -1)[:, :dim]
    return codes.astype(np.float64) + (steps.astype(np.float64) - 8) / RESIDUAL_STEPS


@pytest.mark.parametrize("dim", [64, 37])  # 37: an odd count, the last byte half used
def test_residuals_carry_the_rounding_error_of_each_code(dim: int) -> None:
    codec = Int8Codec(dim)
    rows = unit_rows(np.random.default_rng(61), 200, dim)
    codes, residuals = codec.encode_refined(rows)
    assert np.array_equal(codes, codec.encode(rows)) and residuals.shape == (200, (dim + 1) // 2)
    turned = codec.rotate(rows).astype(np.float64)
    scaled = turned * (LEVELS / np.abs(turned).max(axis=1, keepdims=True))
    error = np.abs(refined(codes, residuals, dim) - scaled)
    assert error.max() <= 0.5 / RESIDUAL_STEPS + 1e-4  # against 0.5 for the code alone
    assert np.abs(codes - scaled).max() > 0.45
    if dim % 2:
        assert ((residuals[:, -1] >> 4) == 8).all()  # the missing component: no correction


def test_refined_search_ranks_near_ties_that_codes_alone_swap(tmp_path: Path) -> None:
    # tight clusters: the 10th and 11th neighbours within the codes' error of each other
    rng = np.random.default_rng(62)
    data = unit_rows(rng, 4_000, 64, clusters=10, spread=0.05)
    queries = unit_rows(rng, 100, 64, clusters=10, spread=0.05)
    index = PackedIndex(tmp_path, 64, expansion_search=200, rerank=60)
    index.upsert(range(len(data)), data)
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    codec = Int8Codec(64)
    slots, _ = index._graph.search(codec.encode(queries), 10, 200)
    by_codes = np.mean([len(set(slots[i]) & set(truth[i])) / 10 for i in range(len(queries))])
    found = [[n.logo_id for n in index.search(q, 10)] for q in queries]
    by_refined = np.mean([len(set(found[i]) & set(truth[i])) / 10 for i in range(len(queries))])
    assert by_refined >= 0.97 and by_refined >= by_codes + 0.05, (by_refined, by_codes)
    near = index.search(queries[0], 10)
    for n in near:  # distances from the refined vectors: within 1e-4 of the true ones
        assert abs(n.distance - (1.0 - float(data[n.logo_id] @ queries[0])) / 2.0) < 1e-4


def test_an_index_saved_before_residuals_is_rebuilt_from_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = unit_rows(np.random.default_rng(63), 300, 16, clusters=5)
    store = FakeStore()
    for logo_id, vector in enumerate(data, start=1):
        store.put(logo_id, vector)
    index = PackedIndex(tmp_path, 16)
    assert index.catch_up(store) == 300
    index.flush()
    # the same save as format 1 wrote it: no residuals member, format 1 in meta.json
    meta = json.loads((tmp_path / files.META).read_text())
    graph = tmp_path / meta["index_file"]
    with np.load(graph) as saved:
        arrays = {name: saved[name] for name in saved.files if name != "residuals"}
    with open(graph, "wb") as handle:
        np.savez(handle, **arrays)
    meta.update(format=1, index_bytes=graph.stat().st_size, index_crc32=files.crc32_of(graph))
    (tmp_path / files.META).write_text(json.dumps(meta))
    old = PackedIndex(tmp_path, 16)
    assert old.count() == 0 and "starting empty" in caplog.text
    assert old.catch_up(store) == 300 and old.ids() == set(range(1, 301))
    assert old.search(data[41], 1)[0].logo_id == 42
    old.flush()
    assert PackedIndex(tmp_path, 16).count() == 300  # saved again in the current format


@pytest.mark.parametrize("dim", [512, 100])  # 100: a tail past the vector kernel's 16-component steps
def test_every_kernel_computes_the_refined_cosine_numpy_computes(dim: int) -> None:
    rng = np.random.default_rng(64)
    codec = Int8Codec(dim)
    codes, residuals = codec.encode_refined(unit_rows(rng, 1_000, dim, clusters=10))
    queries = unit_rows(rng, 30, dim, clusters=10)
    graph = ph.PackedGraph(dim, m=8, expansion_add=32)
    graph.add(np.arange(1_000), codes, residuals)
    turned = codec.rotate(queries)
    vectors = refined(codes, residuals, dim)
    try:
        for wanted in (0, -1):  # scalar, then the best this CPU has
            ph.kernel(wanted)
            slots, cosines = graph.search_refined(codec.encode(queries), turned, 10, 20, 40)
            assert (slots >= 0).all() and (np.diff(cosines, axis=1) <= 0).all()  # best first
            rows = vectors[slots]
            expected = np.einsum("qkd,qd->qk", rows, turned) / (
                np.linalg.norm(rows, axis=2) * np.linalg.norm(turned, axis=1)[:, None]
            )
            np.testing.assert_allclose(cosines, expected, atol=2e-6)
    finally:
        ph.kernel(-1)
