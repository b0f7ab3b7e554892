"""The whole-collection run's own parts: the streamed data set, the exact top-10 kept over chunks,
and the binary ``COPY`` of embeddings into a Robotoff-schema database (read back by the import's
own source adapter)."""

from __future__ import annotations

import numpy as np
import pytest

from bench import data
from bench.collection import TopK
from common.adapters.robotoff_db import RobotoffDatabase
from stack import robotoff_db
from stack.pg import scratch_database

pytestmark = [pytest.mark.integration]


def test_the_top_k_kept_over_chunks_is_the_exact_top_k() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((1000, 16)).astype(np.float32)
    queries = rng.standard_normal((7, 16)).astype(np.float32)
    kept = TopK(queries, 10)
    for start in range(0, 1000, 96):  # chunks that do not divide the rows
        kept.add(vectors[start : start + 96])
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    assert kept.seen == 1000
    assert np.array_equal(kept.ids, exact)


@pytest.mark.parametrize("name", data.DATASETS)
def test_a_streamed_data_set_has_the_rows_and_clusters_of_its_plan(name: str) -> None:
    plan = data.plan(name, 5000)
    queries, chunks = data.streamed(plan, 20, chunk=1024)
    rows = np.concatenate(list(chunks))
    assert rows.shape == (5000, 512) and queries.shape == (20, 512)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)
    # members of one cluster are near-duplicates, members of different clusters are not
    cluster = plan.cluster_of
    same = rows[cluster == cluster[0]]
    other = rows[cluster != cluster[0]][:50]
    if len(same) > 1:
        assert float(np.min(same[1:] @ same[0])) > float(np.mean(other @ same[0]))


def test_embeddings_copied_in_binary_are_read_back_by_the_import_source() -> None:
    rng = np.random.default_rng(4)
    matrices = [rng.standard_normal((n, 512)).astype(np.float32) for n in (5, 7)]
    with scratch_database("collection_copy") as url:
        robotoff_db.create_schema(url)
        robotoff_db.fill_synthetic(url, 12, embeddings=iter(matrices))
        batches = list(RobotoffDatabase(url).rows(0, 100))
    expected = np.concatenate(matrices)
    ids = [i for batch in batches for i in batch.columns["logo_id"]]
    assert ids == list(range(1, 13))
    for batch in batches:
        for i, logo_id in enumerate(batch.columns["logo_id"]):
            assert np.array_equal(batch.vectors[batch.vector_of[i]], expected[logo_id - 1])
