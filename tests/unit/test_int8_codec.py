"""The int8 codec: an exact orthogonal turn, stable signs, and cosines kept to about 0.1 %."""

from __future__ import annotations

import numpy as np
import pytest

from common.embedded_index import _int8_codec
from common.embedded_index._int8_codec import Int8Codec, column_signs, sylvester_hadamard


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def spiky_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Unit rows with two large fixed components, as CLIP embeddings have."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n, dim))
    rows[:, 3] += 12.0
    rows[:, 100 % dim] -= 8.0
    return unit(rows)


@pytest.mark.parametrize("dim", [1, 2, 8, 512])
def test_hadamard_rows_are_orthogonal(dim: int) -> None:
    h = sylvester_hadamard(dim)
    assert h is not None and set(np.unique(h)) <= {-1.0, 1.0}
    np.testing.assert_array_equal(h @ h.T, dim * np.eye(dim))


def test_no_hadamard_for_other_orders() -> None:
    assert sylvester_hadamard(384) is None and sylvester_hadamard(0) is None


@pytest.mark.parametrize("dim", [512, 384, 100, 1])
def test_turn_is_orthogonal(dim: int) -> None:
    codec = Int8Codec(dim)
    np.testing.assert_allclose(codec.turn @ codec.turn.T, np.eye(dim), atol=1e-5)


@pytest.mark.parametrize("dim", [512, 384, 37])
def test_the_engine_turns_rows_by_the_turn_matrix(dim: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``rotate`` (the engine's butterflies) is ``rows @ turn`` in float64 to float32's rounding, and so
    are numpy's products, which turn the rows where the engine is not built."""
    codec = Int8Codec(dim)
    rows = np.random.default_rng(3).standard_normal((300, dim)).astype(np.float32)
    exact = rows.astype(np.float64) @ codec.turn.astype(np.float64)
    turned = codec.rotate(rows)
    assert turned.dtype == np.float32 and np.abs(turned - exact).max() < 4e-6
    monkeypatch.setattr(_int8_codec, "_engine", lambda: None)
    by_numpy = codec.rotate(rows)
    assert np.abs(by_numpy - exact).max() < 4e-6
    assert not np.array_equal(by_numpy, turned)  # the two paths did run: their last bits differ
    np.testing.assert_array_equal(codec.rotate(rows[7:8]), by_numpy[7:8])  # one row as in the batch


def test_signs_are_fixed_and_mixed() -> None:
    signs = column_signs(512)
    np.testing.assert_array_equal(signs, column_signs(512))
    assert 200 < int((signs > 0).sum()) < 312  # pseudo-random, not all one sign


@pytest.mark.parametrize("dim", [512, 384])
def test_cosines_of_codes_match_the_originals(dim: int) -> None:
    rows = spiky_rows(400, dim)
    codes = Int8Codec(dim).encode(rows).astype(np.float64)
    true = rows.astype(np.float64) @ rows.T.astype(np.float64)
    coded = unit(codes).astype(np.float64) @ unit(codes).T.astype(np.float64)
    # usearch's plain cast (x * 127, rounded) on the same rows, for scale
    naive = np.clip(np.rint(rows * 127), -127, 127)
    naive_cos = unit(naive) @ unit(naive).T
    error, naive_error = np.abs(coded - true).max(), np.abs(naive_cos - true).max()
    assert error < 3e-3
    assert error < naive_error / 3


def test_decode_returns_the_vector_within_quantisation_error() -> None:
    codec = Int8Codec(512)
    rows = spiky_rows(50, 512, seed=1)
    back = codec.decode(codec.encode(rows))
    np.testing.assert_allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-5)
    assert np.abs(back - rows).max() < 2e-3


def test_codes_use_the_full_range_and_zero_stays_zero() -> None:
    codec = Int8Codec(512)
    codes = codec.encode(np.vstack([spiky_rows(5, 512), np.zeros((1, 512), np.float32)]))
    assert codes.dtype == np.int8
    assert (np.abs(codes[:5].astype(int)).max(axis=1) == 127).all()
    assert not codes[5].any() and not np.isnan(codec.decode(codes[5:])).any()


def test_one_vector_encodes_like_a_batch() -> None:
    codec = Int8Codec(512)
    rows = np.vstack([spiky_rows(40, 512, seed=2), np.zeros((1, 512), np.float32)])  # the matrix path
    batch = codec.encode(rows)
    for row, codes in zip(rows, batch, strict=True):
        np.testing.assert_array_equal(codec.encode_one(row), codes)


@pytest.mark.parametrize("dim", [512, 384, 7])
def test_a_batch_encoded_in_chunks_is_the_batch_encoded_whole(dim: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are encoded ``CHUNK_ROWS`` at a time (for the cache); across the chunks' edges the codes and
    residuals are those of one pass over the whole batch, and each row's are its own alone."""
    from common.embedded_index import _int8_codec

    codec, chunk = Int8Codec(dim), _int8_codec.CHUNK_ROWS
    rows = np.random.default_rng(6).standard_normal((2 * chunk + 37, dim)).astype(np.float32)
    codes, residuals = codec.encode_refined(rows)
    plain, turned = codec.encode(rows), codec.rotate(rows)
    monkeypatch.setattr(_int8_codec, "CHUNK_ROWS", len(rows) + 1)  # one chunk: the whole batch at once
    whole_codes, whole_residuals = codec.encode_refined(rows)
    np.testing.assert_array_equal(codes, whole_codes)
    np.testing.assert_array_equal(residuals, whole_residuals)
    np.testing.assert_array_equal(plain, codec.encode(rows))
    np.testing.assert_array_equal(turned, codec.rotate(rows))
    for i in (0, chunk - 1, chunk, len(rows) - 1):
        np.testing.assert_array_equal(codec.encode_one(rows[i]), plain[i])
    assert np.abs(turned @ codec.turn.T - rows).max() < 1e-4  # still the turn, undone by its transpose
