"""Queue messages, versioned JSON, strictly validated.

- the crops message (``detect`` → ``embed_index``): one image and its logos;
- the re-vote message (``kind: "revote"``): logos whose predicted label must be voted again,
  sent when an annotation change reaches more logos than one request may re-vote.
"""

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


MAX_REVOTE_IDS = 1000


@dataclasses.dataclass(frozen=True)
class RevoteMessage:
    logo_ids: tuple[int, ...]
    schema_version: int = SCHEMA_VERSION
    kind = "revote"

    def to_json(self) -> bytes:
        body = {"schema_version": self.schema_version, "kind": self.kind, "logo_ids": list(self.logo_ids)}
        return json.dumps(body, separators=(",", ":")).encode()

    def attributes(self) -> dict[str, str]:
        return {"schema_version": str(self.schema_version), "kind": self.kind, "logo_count": str(len(self.logo_ids))}

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> RevoteMessage:
        ids = body.get("logo_ids")
        if not isinstance(ids, list) or not ids or len(ids) > MAX_REVOTE_IDS:
            raise InvalidEventError(f"a revote message needs 'logo_ids', a list of 1 to {MAX_REVOTE_IDS} ids")
        return cls(tuple(_int(i, "logo_ids[]") for i in ids))


QueueMessage = CropsMessage | RevoteMessage


def decode_message(data: bytes | str) -> QueueMessage:
    """A crops or re-vote message (``kind``; absent means crops)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise InvalidEventError(f"queue message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"queue message is not JSON: {exc}") from exc
    if isinstance(body, dict) and body.get("kind") == RevoteMessage.kind:
        if body.get("schema_version") != SCHEMA_VERSION:
            raise InvalidEventError(f"unknown revote message schema_version {body.get('schema_version')!r}")
        return RevoteMessage.from_body(body)
    return CropsMessage.from_json(data)


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
