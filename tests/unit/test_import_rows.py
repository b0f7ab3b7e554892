"""A batch's checks in one numpy pass give, row for row, what the row-by-row checks give."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from common.domain import Box
from common.imports.batch import prepare
from common.imports.rows import EMBEDDING_BYTES, SourceLogo, check_box, check_score


def _row(logo_id: int, box: Any, score: Any = 0.5, embedding: bytes | None = None, **kw: Any) -> SourceLogo:
    return SourceLogo(logo_id=logo_id, position=logo_id, source_image=kw.pop("source_image", "/1/2.jpg"),
                      index=0, bounding_box=box, score=score, embedding=embedding, **kw)  # fmt: skip


def test_a_clean_batch_is_clipped_like_check_box() -> None:
    rows = [_row(1, [-0.5, 0.1, 0.4, 1.7]), _row(2, [0, 0, 1, 1], score=1), _row(3, [0.2, 0.2, 0.3, 0.25])]
    batch = prepare(rows, "p/", position=3)
    assert batch.failures == {}
    assert batch.logos.boxes.tolist() == [
        Box(0.0, 0.1, 0.4, 1.0).as_list(),
        Box(0.0, 0.0, 1.0, 1.0).as_list(),
        Box(0.2, 0.2, 0.3, 0.25).as_list(),
    ]
    assert batch.logos.scores == [0.5, 1.0, 0.5]
    assert list(batch.images) == ["p/1/2.jpg"]


def test_odd_rows_get_the_reason_of_the_row_by_row_check() -> None:
    boxes: list[Any] = [[0.1, 0.1, 0.5, 0.5], [0.1, math.nan, 0.5, 0.5], [0.6, 0.1, 0.5, 0.5], [1.2, 0.1, 1.5, 0.5]]
    rows = [_row(i, box) for i, box in enumerate(boxes)] + [_row(10, [0.1, 0.1, 0.5, 0.5], score=math.inf)]
    batch = prepare(rows, "", position=10)
    expected = {i: check_box(box)[1] for i, box in enumerate(boxes) if check_box(box)[0] is None}
    expected[10] = check_score(math.inf)[1]
    assert len(expected) == 4 and batch.failures == expected
    assert batch.logos.ids == [0]


def test_a_ragged_or_textual_batch_falls_back_row_by_row() -> None:
    boxes: list[Any] = [[0.1, 0.1, 0.5, 0.5], [0.1, 0.2, 0.5], "0.1,0.1,0.5,0.5", None, ["0.1", "0.1", "0.5", "0.5"]]
    rows = [_row(i, box, score="0.7" if i == 4 else 0.5) for i, box in enumerate(boxes)]
    rows.append(_row(9, [0.1, 0.1, 0.5, 0.5], score="high"))
    batch = prepare(rows, "", position=9)
    assert set(batch.failures) == {1, 2, 3, 9}
    assert batch.failures[1] == check_box(boxes[1])[1] and batch.failures[9] == check_score("high")[1]
    assert batch.logos.ids == [0, 4]
    assert batch.logos.boxes[1].tolist() == [0.1, 0.1, 0.5, 0.5] and batch.logos.scores[1] == 0.7


def test_embedding_of_the_wrong_size_is_refused_with_its_reason_and_the_logo_kept() -> None:
    good = (np.arange(512, dtype="<f4") + 1).tobytes()
    whole = [0, 0, 1, 1]
    rows = [_row(1, whole, embedding=good), _row(2, whole, embedding=good[:100]),
            _row(3, whole, embedding=bytes(EMBEDDING_BYTES)), _row(4, whole, error="bad line")]  # fmt: skip
    batch = prepare(rows, "", position=4)
    assert batch.failures == {2: "embedding is 100 bytes, expected 2048 (512 float32)", 3: "embedding is all zeros",
                              4: "bad line"}  # fmt: skip
    vector = batch.logos.vectors[0]
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-6
    assert np.allclose(vector, (np.arange(512) + 1) / np.linalg.norm(np.arange(512) + 1), atol=1e-6)
    assert batch.logos.ids == [1, 2, 3] and batch.logos.has_vector.tolist() == [True, False, False]


def test_a_clashing_box_index_moves_to_the_next_free_one_from_1000() -> None:
    from common.adapters.sql.imports import _box_indexes

    taken = {(7, 0), (7, 1)}  # image 7 already has logos at 0 and 1 (a first detection run)
    assert _box_indexes([(7, 0), (8, 0), (7, 1), (8, 0)], taken) == [1000, 0, 1001, 1000]
    assert {(7, 1000), (7, 1001), (8, 0), (8, 1000)} <= taken


def test_a_batch_without_clashes_keeps_every_index() -> None:
    from common.adapters.sql.imports import _box_indexes

    taken = {(1, 0)}
    assert _box_indexes([(2, 0), (2, 1), (3, 0)], taken) == [0, 1, 0]
    assert taken == {(1, 0), (2, 0), (2, 1), (3, 0)}


def test_normalised_finds_every_unusable_row_and_survives_float32_overflow() -> None:
    from common.imports.batch import normalised

    rows = np.ones((5, 512), dtype=np.float32)
    rows[1, 7] = np.nan
    rows[2, 0] = np.inf
    rows[3] = 0.0
    rows[4] = 3e19  # finite, but its squared norm overflows float32
    out, usable, finite = normalised(rows)
    assert usable.tolist() == [True, False, False, False, True]
    assert finite.tolist() == [True, False, False, True, True]
    assert np.allclose(out[[0, 4]], 1 / np.sqrt(512), atol=1e-7) and not out[1:4].any()


def test_a_batch_of_rows_keeps_each_embedding_with_its_own_logo() -> None:
    vectors = [np.zeros(512, dtype="<f4") for _ in range(4)]
    for i, vector in enumerate(vectors):
        vector[i] = 2.0  # logo i's embedding points along axis i
    rows = [_row(10 + i, [0, 0, 1, 1], embedding=v.tobytes() if i != 1 else None) for i, v in enumerate(vectors)]
    rows[2].bounding_box = [0.5, 0.5, 0.5, 0.5]  # refused: its logo and embedding are left out
    batch = prepare(rows, "", position=13)
    assert batch.logos.ids == [10, 11, 13] and batch.logos.has_vector.tolist() == [True, False, True]
    assert np.argmax(batch.logos.vectors[0]) == 0 and np.argmax(batch.logos.vectors[2]) == 3
    assert not batch.logos.vectors[1].any() and set(batch.failures) == {12}
