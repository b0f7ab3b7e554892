"""The crops message (``detect`` → ``embed_index``): versioned JSON, strictly validated."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from common.domain import Box, ObjectRef
from common.errors import InvalidEventError

SCHEMA_VERSION = 1
MAX_MESSAGE_BYTES = 1_000_000


@dataclasses.dataclass(frozen=True)
class CropLogo:
    logo_id: int
    box: Box


@dataclasses.dataclass(frozen=True)
class CropsMessage:
    image_id: int
    image: ObjectRef
    logos: tuple[CropLogo, ...]
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> bytes:
        body = {
            "schema_version": self.schema_version,
            "image_id": self.image_id,
            "image": {"bucket": self.image.bucket, "name": self.image.name, "generation": self.image.generation},
            "logos": [{"logo_id": logo.logo_id, "box": logo.box.as_list()} for logo in self.logos],
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def attributes(self) -> dict[str, str]:
        """Routing and tracing attributes carried beside the payload."""
        return {
            "schema_version": str(self.schema_version),
            "image_id": str(self.image_id),
            "bucket": self.image.bucket,
            "logo_count": str(len(self.logos)),
        }

    @classmethod
    def from_json(cls, data: bytes | str) -> CropsMessage:
        if len(data) > MAX_MESSAGE_BYTES:
            raise InvalidEventError(f"crops message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidEventError(f"crops message is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidEventError("crops message must be a JSON object")
        if body.get("schema_version") != SCHEMA_VERSION:
            raise InvalidEventError(f"unknown crops message schema_version {body.get('schema_version')!r}")
        image = body.get("image")
        logos = body.get("logos")
        if not isinstance(image, dict) or not isinstance(logos, list):
            raise InvalidEventError("crops message needs an 'image' object and a 'logos' list")
        return cls(
            image_id=_int(body.get("image_id"), "image_id"),
            image=ObjectRef(
                _str(image.get("bucket"), "image.bucket"),
                _str(image.get("name"), "image.name"),
                str(image.get("generation", "0")),
            ),
            logos=tuple(_logo(item) for item in logos),
        )


def _logo(item: Any) -> CropLogo:
    if not isinstance(item, dict):
        raise InvalidEventError(f"each logo must be an object, got {item!r}")
    return CropLogo(_int(item.get("logo_id"), "logo_id"), Box.from_list(item.get("box")))


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidEventError(f"{field} must be a positive integer, got {value!r}")
    return value


def _str(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"{field} must be a non-empty string, got {value!r}")
    return value
