"""A batch's checks in one numpy pass give, row for row, what the row-by-row checks give."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from common.adoption.rows import EMBEDDING_BYTES, SourceLogo, check_box, check_score, prepare
from common.domain import Box


def _row(logo_id: int, box: Any, score: Any = 0.5, embedding: bytes | None = None, **kw: Any) -> SourceLogo:
    return SourceLogo(logo_id=logo_id, position=logo_id, source_image=kw.pop("source_image", "/1/2.jpg"),
                      index=0, bounding_box=box, score=score, embedding=embedding, **kw)  # fmt: skip


def test_a_clean_batch_is_clipped_like_check_box() -> None:
    rows = [_row(1, [-0.5, 0.1, 0.4, 1.7]), _row(2, [0, 0, 1, 1], score=1), _row(3, [0.2, 0.2, 0.3, 0.25])]
    batch = prepare(rows, "p/", position=3)
    assert batch.failures == {}
    assert [logo.box for logo in batch.logos] == [
        Box(0.0, 0.1, 0.4, 1.0).as_list(),
        Box(0.0, 0.0, 1.0, 1.0).as_list(),
        Box(0.2, 0.2, 0.3, 0.25).as_list(),
    ]
    assert [logo.score for logo in batch.logos] == [0.5, 1.0, 0.5]
    assert list(batch.images) == ["p/1/2.jpg"]


def test_odd_rows_get_the_reason_of_the_row_by_row_check() -> None:
    boxes: list[Any] = [[0.1, 0.1, 0.5, 0.5], [0.1, math.nan, 0.5, 0.5], [0.6, 0.1, 0.5, 0.5], [1.2, 0.1, 1.5, 0.5]]
    rows = [_row(i, box) for i, box in enumerate(boxes)] + [_row(10, [0.1, 0.1, 0.5, 0.5], score=math.inf)]
    batch = prepare(rows, "", position=10)
    expected = {i: check_box(box)[1] for i, box in enumerate(boxes) if check_box(box)[0] is None}
    expected[10] = check_score(math.inf)[1]
    assert len(expected) == 4 and batch.failures == expected
    assert [logo.logo.logo_id for logo in batch.logos] == [0]


def test_a_ragged_or_textual_batch_falls_back_row_by_row() -> None:
    boxes: list[Any] = [[0.1, 0.1, 0.5, 0.5], [0.1, 0.2, 0.5], "0.1,0.1,0.5,0.5", None, ["0.1", "0.1", "0.5", "0.5"]]
    rows = [_row(i, box, score="0.7" if i == 4 else 0.5) for i, box in enumerate(boxes)]
    rows.append(_row(9, [0.1, 0.1, 0.5, 0.5], score="high"))
    batch = prepare(rows, "", position=9)
    assert set(batch.failures) == {1, 2, 3, 9}
    assert batch.failures[1] == check_box(boxes[1])[1] and batch.failures[9] == check_score("high")[1]
    kept = {logo.logo.logo_id: logo for logo in batch.logos}
    assert set(kept) == {0, 4} and kept[4].box == [0.1, 0.1, 0.5, 0.5] and kept[4].score == 0.7


def test_embedding_of_the_wrong_size_is_refused_with_its_reason_and_the_logo_kept() -> None:
    good = (np.arange(512, dtype="<f4") + 1).tobytes()
    whole = [0, 0, 1, 1]
    rows = [_row(1, whole, embedding=good), _row(2, whole, embedding=good[:100]),
            _row(3, whole, embedding=bytes(EMBEDDING_BYTES)), _row(4, whole, error="bad line")]  # fmt: skip
    batch = prepare(rows, "", position=4)
    assert batch.failures == {2: "embedding is 100 bytes, expected 2048 (512 float32)", 3: "embedding is all zeros",
                              4: "bad line"}  # fmt: skip
    vector = batch.logos[0].vector
    assert vector is not None and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-6
    assert [logo.vector is None for logo in batch.logos] == [False, True, True]


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
