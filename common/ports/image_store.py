"""Object storage holding the uploaded images."""

from __future__ import annotations

from typing import Protocol

from common.domain import ObjectRef


class ImageStore(Protocol):
    def get(self, ref: ObjectRef) -> bytes:
        """The object's bytes. ``NotFoundError`` if it is gone, ``TransientError`` if unreachable.

        A ``ref.generation`` of "0" means "the current generation".
        """
        ...

    def put(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectRef:
        """Store an object; returns its reference with the generation the store assigned."""
        ...

    def stat(self, bucket: str, name: str) -> ObjectRef | None:
        """The current generation of an object, or None if it does not exist."""
        ...

    def delete(self, ref: ObjectRef) -> None: ...
