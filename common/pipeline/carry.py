"""An annotation survives re-detection of the same image.

When a new generation of an object is detected (the same photo uploaded again, or re-processed
with another detector), its older generations are retired, but their annotated logos keep their
record. Each new logo whose box overlaps an annotated logo of an older generation by at least
``MIN_IOU`` takes over that annotation (the best overlap wins, each old logo given once),
recorded in the history as a ``carry`` by the user who made the annotation.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from common.domain import Box
from common.inference.detector import ious
from common.ports.annotation_store import AnnotationStore
from common.ports.metadata_store import MetadataStore
from common.records.annotations import CARRY, LabelWrite
from common.records.logos import ImageRecord, LogoRecord

logger = logging.getLogger(__name__)

MIN_IOU = 0.5


def iou(a: Box, b: Box) -> float:
    return float(ious(np.asarray(a.as_list()), np.asarray([b.as_list()]))[0])


def carry_annotations(
    store: MetadataStore, notes: AnnotationStore, image: ImageRecord, logos: Sequence[LogoRecord]
) -> list[int]:
    """Copy annotations from older generations onto ``logos``; returns the logos annotated."""
    older = [o for o in store.find_images(image.ref.bucket, image.ref.name) if o.id != image.id]
    old_logos = [logo for o in older for logo in store.logos_of_image(o.id)]
    labels = notes.get_annotations([logo.id for logo in old_logos])
    annotated = [logo for logo in old_logos if labels.get(logo.id) and labels[logo.id].annotated]
    pairs = sorted(
        ((iou(new.box, old.box), new.id, old.id) for new in logos for old in annotated),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    done_new: set[int] = set()
    done_old: set[int] = set()
    carried: list[int] = []
    for overlap, new_id, old_id in pairs:
        if overlap < MIN_IOU or new_id in done_new or old_id in done_old:
            continue
        done_new.add(new_id)
        done_old.add(old_id)
        label = labels[old_id]
        write = LabelWrite(new_id, label.type, label.value, label.value_tag, label.taxonomy_value)
        carried += notes.write_labels([write], label.username or "unknown", CARRY, skip_annotated=True)
    if carried:
        logger.info("image %d: %d annotation(s) carried over from older generations", image.id, len(carried))
    return carried
