"""A batch of Robotoff's logos as an import reads it, and its check before anything is written.

A source yields ``SourceBatch``es: the rows of ``SourceLogo`` as columns (one list a field), the
embeddings of the expected size stacked in one float32 matrix. ``prepare`` checks a whole batch
in a few numpy passes and list comprehensions, never one Python object a row: at a million rows,
an object and a loop body a row were most of an import's time. It gives an ``ImportBatch``: the
images, the logos under their own ids (as columns), their L2-normalised embeddings, and what could
not be taken as it was, with the reason (a logo whose embedding is not 512 float32 is imported
without it; a logo whose box is unusable is not imported). No I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.imports.rows import (
    EMBEDDING_BYTES,
    EMBEDDING_DIM,
    ImageRow,
    SourceLogo,
    check_box,
    check_score,
    embedding_size_error,
    off_image_id,
)

FIELDS = tuple(field.name for field in dataclasses.fields(SourceLogo) if field.name != "embedding")
# the logo columns an ``ImportBatch`` carries as they came, beside its checked ids, boxes and scores
LOGO_FIELDS = ("label", "detector_version", "annotation_type", "annotation_value", "annotation_value_tag",
               "taxonomy_value", "username", "completed_at", "nearest_neighbors", "text")  # fmt: skip


@dataclasses.dataclass
class SourceBatch:
    """Rows of a source as columns: ``columns[name][i]`` is row ``i``'s ``SourceLogo.<name>`` (every
    field but ``embedding``). The embeddings of the expected size are the rows of ``vectors``
    (float32 [m, 512], as stored), ``vector_of[i]`` row ``i``'s (-1: none); one refused unread has
    its reason in ``embedding_error``. ``position``: where the source resumes after this batch."""

    columns: dict[str, list[Any]]
    vectors: np.ndarray
    vector_of: np.ndarray
    position: int

    def __len__(self) -> int:
        return len(self.columns["logo_id"])

    @classmethod
    def of(cls, rows: Sequence[SourceLogo], position: int | None = None) -> SourceBatch:
        """The batch of rows read one by one (``position``: the last row's, unless given)."""
        columns = {name: [getattr(row, name) for row in rows] for name in FIELDS}
        errors = columns["embedding_error"]
        vector_of = np.full(len(rows), -1, dtype=np.int64)
        blobs: list[bytes] = []
        for i, row in enumerate(rows):
            if row.embedding is None:
                continue
            if len(row.embedding) == EMBEDDING_BYTES:
                vector_of[i] = len(blobs)
                blobs.append(bytes(row.embedding))
            elif errors[i] is None:
                errors[i] = embedding_size_error(len(row.embedding))
        vectors = np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32).reshape(-1, EMBEDDING_DIM)
        end = position if position is not None else (rows[-1].position if rows else 0)
        return cls(columns, vectors, vector_of, end)


@dataclasses.dataclass
class LogoColumns:
    """The logos to import, as columns, one value per logo in source order."""

    ids: list[int]
    image_keys: list[str]  # the object name of each logo's image (a key of ``ImportBatch.images``)
    index: list[int]  # Robotoff's box index in its image
    boxes: np.ndarray  # float64 [n, 4]: y_min, x_min, y_max, x_max, checked and clipped to [0, 1]
    scores: list[float]
    vectors: np.ndarray  # float32 [n, 512], L2-normalised; zeros where ``has_vector`` is False
    has_vector: np.ndarray  # bool [n]
    fields: dict[str, list[Any]]  # ``LOGO_FIELDS``, as the source gave them

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, keep: Sequence[int]) -> LogoColumns:
        """The logos at positions ``keep``, in that order."""
        rows = np.asarray(keep, dtype=np.int64)
        return LogoColumns(
            [self.ids[k] for k in keep], [self.image_keys[k] for k in keep], [self.index[k] for k in keep],
            self.boxes[rows], [self.scores[k] for k in keep], self.vectors[rows], self.has_vector[rows],
            {name: [values[k] for k in keep] for name, values in self.fields.items()},
        )  # fmt: skip


@dataclasses.dataclass
class ImportBatch:
    images: dict[str, ImageRow]
    logos: LogoColumns
    failures: dict[int, str]  # logo id -> reason (the logo may still be imported, without embedding)
    rows: int
    position: int  # where the source resumes after this batch


def prepare(source: SourceBatch | Sequence[SourceLogo], prefix: str, position: int | None = None) -> ImportBatch:
    """Check every row of a batch; ``position`` (rows read one by one only) is the source's resume
    point after the batch, the last row's unless given."""
    batch = source if isinstance(source, SourceBatch) else SourceBatch.of(source, position)
    columns, n = batch.columns, len(batch)
    ids = columns["logo_id"]
    boxes, box_ok = check_boxes(columns["bounding_box"])
    scores, score_ok = check_scores(columns["score"])
    named = np.fromiter(map(bool, columns["source_image"]), dtype=bool, count=n)
    clean = np.fromiter((error is None for error in columns["error"]), dtype=bool, count=n)
    good = box_ok & score_ok & named & clean
    failures: dict[int, str] = {}
    for i in np.flatnonzero(~good).tolist():  # the few refused rows get their reason one by one
        failures[ids[i]] = _refusal(columns, i)
    vectors, vector_ok, vector_finite = normalised(batch.vectors)
    has_vector = batch.vector_of >= 0
    usable = np.zeros(n, dtype=bool)
    usable[has_vector] = vector_ok[batch.vector_of[has_vector]]
    for i in np.flatnonzero(good & ~usable).tolist():  # kept without an embedding: say why, if refused
        reason = columns["embedding_error"][i]
        if has_vector[i]:
            finite = vector_finite[batch.vector_of[i]]
            reason = "embedding is all zeros" if finite else "embedding has non-finite values"
        if reason:
            failures[ids[i]] = str(reason)
    if usable.all() and len(vectors) == n and (batch.vector_of == np.arange(n)).all():
        row_vectors = vectors  # the usual batch: every row with its vector, in order
    else:
        row_vectors = np.zeros((n, EMBEDDING_DIM), dtype=np.float32)
        row_vectors[usable] = vectors[batch.vector_of[usable]]
    keys = [prefix + source_image.lstrip("/") for source_image in columns["source_image"]]  # object_name
    logos = LogoColumns(
        ids, keys, [int(i) for i in columns["index"]], boxes, scores.tolist(), row_vectors, usable,
        {name: columns[name] for name in LOGO_FIELDS},
    )  # fmt: skip
    keep = np.flatnonzero(good).tolist()
    if len(keep) < n:
        logos = logos.select(keep)
    images: dict[str, ImageRow] = {}
    for row, key in zip(keep, logos.image_keys, strict=True):
        if key not in images:
            images[key] = _image(columns, row, key)
    return ImportBatch(images, logos, failures, n, batch.position)


def _refusal(columns: dict[str, list[Any]], i: int) -> str:
    if columns["error"][i]:
        return str(columns["error"][i])
    if not columns["source_image"][i]:
        return "no source_image: the logo's image is unknown"
    _, box_error = check_box(columns["bounding_box"][i])
    _, score_error = check_score(columns["score"][i])
    return str(box_error or score_error)


def check_boxes(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``check_box`` for a whole batch in one numpy pass when every box is 4 numbers (else row by
    row): the clipped boxes (float64 [n, 4], zeros where unusable) and which are usable."""
    try:
        boxes = np.array(values) if len(values) else np.zeros((0, 4))
    except (TypeError, ValueError):  # ragged: some box is not 4 numbers
        boxes = np.zeros((0, 0))
    if boxes.shape != (len(values), 4) or boxes.dtype.kind not in "iuf":
        checked = [check_box(value)[0] for value in values]
        usable = np.array([box is not None for box in checked], dtype=bool)
        rows = [box.as_list() if box is not None else [0.0] * 4 for box in checked]
        return np.array(rows, dtype=np.float64).reshape(-1, 4), usable
    boxes = boxes.astype(np.float64)
    finite: np.ndarray = np.asarray(np.isfinite(boxes).all(axis=1))
    clipped = np.clip(np.where(finite[:, None], boxes, 0.0), 0.0, 1.0)
    usable = finite & (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    clipped[~usable] = 0.0
    return clipped, usable


def check_scores(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``check_score`` for a whole batch: the scores (float64, 0 where unusable) and which are usable."""
    try:
        scores = np.array(values) if len(values) else np.zeros(0)
    except (TypeError, ValueError):
        scores = np.zeros((0, 0))
    if scores.shape != (len(values),) or scores.dtype.kind not in "iuf":
        checked = [check_score(value)[0] for value in values]
        usable = np.array([score is not None for score in checked], dtype=bool)
        return np.array([score or 0.0 for score in checked], dtype=np.float64), usable
    scores = scores.astype(np.float64)
    usable = np.isfinite(scores)
    return np.where(usable, scores, 0.0), usable


def normalised(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows L2-normalised (zeros where unusable), which are usable, and which are finite. A
    row with a NaN or an infinity has a norm that is not finite, so the element-wise check runs
    only on the rows whose norm says so."""
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors).astype(np.float64))
    finite: np.ndarray = np.isfinite(norms)
    for i in np.flatnonzero(~finite).tolist():  # a norm of finite values may overflow float32
        finite[i] = bool(np.isfinite(vectors[i]).all())
        norms[i] = float(np.linalg.norm(vectors[i].astype(np.float64))) if finite[i] else 0.0
    usable = finite & (norms > 0)
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=usable).astype(np.float32)
    if usable.all():
        return vectors * scale[:, None], usable, finite
    out = np.zeros(vectors.shape, dtype=np.float32)
    out[usable] = vectors[usable] * scale[usable, None]
    return out, usable, finite


def _image(columns: dict[str, list[Any]], i: int, key: str) -> ImageRow:
    source_image = columns["source_image"][i]
    return ImageRow(
        key=key,
        robotoff_id=columns["image_id"][i],
        barcode=columns["barcode"][i],
        off_image_id=columns["off_image_id"][i] or off_image_id(source_image),
        source_image=source_image,
        uploaded_at=columns["uploaded_at"][i],
        width=columns["width"][i],
        height=columns["height"][i],
        deleted=bool(columns["deleted"][i]),
        server_type=columns["server_type"][i] or "off",
        detector_version=columns["detector_version"][i],
    )
