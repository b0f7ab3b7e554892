"""The retry rule shared by both event handlers.

A transient failure is counted against the image and re-raised so the platform retries with
back-off, until ``max_attempts``: then the image is marked failed with its last error and the
event acknowledged, so nothing is dropped silently and nothing retries forever.
"""

from __future__ import annotations

import logging

from common.errors import TransientError
from common.ports.metadata_store import FAILED, MetadataStore

logger = logging.getLogger(__name__)


def handle_transient(store: MetadataStore, image_id: int, exc: TransientError, max_attempts: int) -> None:
    """Re-raise ``exc`` unless the image has used up its attempts (then mark it failed)."""
    try:
        attempts = store.count_attempt(image_id, str(exc))
    except TransientError:
        raise exc from None  # the store itself is down: let the platform retry
    if attempts < max_attempts:
        raise exc
    store.mark_image(image_id, FAILED, f"gave up after {attempts} attempts: {exc}")
    logger.error("image %s failed permanently after %s attempts: %s", image_id, attempts, exc)
