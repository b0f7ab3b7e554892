"""Use case: keep an upload in the image store and hand it to the pipeline.

Every way in (``POST /api/v1/images``, ``search/image?store=true``, ``logo-ann ingest`` and the
inbox folder) goes through ``Intake``, with one naming policy (``object_name``). What happens
next depends on the deployment: embedded, the ``pipeline`` runs in this process and its result
comes back; in the cloud (``LOGO_ANN_PIPELINE=platform``) the storage event runs it, so
the upload is only stored and the caller gets the object's reference.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re

from common.domain import StoredObject
from common.pipeline.detect import DetectResult
from common.pipeline.linear import Pipeline
from common.ports.image_store import ImageStore

logger = logging.getLogger(__name__)

SAFE = re.compile(r"[^A-Za-z0-9._-]+")
OCTET_STREAM = "application/octet-stream"


def object_name(data: bytes, filename: str | None) -> str:
    """``<sha256 prefix>/<file name>``: the same bytes under the same name are the same object."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    safe = SAFE.sub("_", base)[-100:]
    if safe in ("", ".", ".."):
        safe = "image"
    return f"{hashlib.sha256(data).hexdigest()[:20]}/{safe}"


@dataclasses.dataclass(frozen=True)
class Intook:
    """What an upload became: the stored object, and the detect result when it ran here."""

    stored: StoredObject
    result: DetectResult | None


@dataclasses.dataclass
class Intake:
    images: ImageStore
    bucket: str
    # the pipeline on one stored object (embedded); None when the platform's events run it (cloud)
    pipeline: Pipeline | None

    def store(
        self, data: bytes, filename: str | None, content_type: str | None, name: str | None = None
    ) -> StoredObject:
        """Put ``data`` in the bucket: under ``name`` when given (kept as is), else ``object_name``.

        A content-addressed object that is already there is reused, so storing the same file
        again changes nothing.
        """
        kind = content_type or OCTET_STREAM
        if name:
            ref = self.images.put(self.bucket, name, data, kind)
        else:
            key = object_name(data, filename)
            ref = self.images.stat(self.bucket, key) or self.images.put(self.bucket, key, data, kind)
        return StoredObject(ref, len(data), content_type)

    def submit(self, data: bytes, filename: str | None, content_type: str | None, name: str | None = None) -> Intook:
        """Store, then run the pipeline here when this deployment does (``TransientError`` propagates)."""
        stored = self.store(data, filename, content_type, name)
        if self.pipeline is None:
            logger.info("stored %s for the platform's pipeline", stored.ref.name)
            return Intook(stored, None)
        result = self.pipeline.detect(stored)
        fields = {"object": stored.ref.name, "image_id": result.image_id, "status": result.status,
                  "logos": len(result.logos)}  # fmt: skip
        error = f": {result.error}" if result.error else ""
        logger.info("processed %s: image %s %s, %d logos%s", filename or stored.ref.name, result.image_id,
                    result.status, len(result.logos), error, extra={"fields": fields})  # fmt: skip
        return Intook(stored, result)
