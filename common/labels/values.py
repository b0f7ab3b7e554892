"""Annotation values as Robotoff accepts them: types, validation and the value tag.

- ``annotation_value`` is kept as sent; ``""`` means no value.
- ``annotation_value_tag`` is the value folded to ASCII (accents dropped), lower-cased,
  ``" & "`` turned into ``-``, spaces, ``'`` and ``.`` into ``-``, ``!`` and ``?`` removed and
  ``-`` stripped at both ends; ``:`` is kept (``en:EU Organic`` → ``en:eu-organic``).
- The Hunger Games client sends ``nutrition_label``; it is stored as ``nutritional_label``.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from typing import Any

from common.errors import InvalidAnnotationError

TYPES = (
    "brand",
    "category",
    "label",
    "no_logo",
    "nutritional_label",
    "packager_code",
    "packaging",
    "qr_code",
    "store",
)
ALIASES = {"nutrition_label": "nutritional_label"}
NEEDS_VALUE = frozenset({"brand", "category", "label", "store"})
TAXONOMY_OF_TYPE = {"brand": "brands", "category": "categories", "label": "labels"}
MAX_VALUE_CHARS = 1000


@dataclasses.dataclass(frozen=True)
class LabelValue:
    """A validated (type, value) with its tag; ``value`` None means "no value"."""

    type: str
    value: str | None
    tag: str | None


def value_tag(value: str) -> str:
    """Robotoff's ``annotation_value_tag`` rule (see the module docstring)."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    text = folded.lower().replace(" & ", "-")
    for char in (" ", "'", "."):
        text = text.replace(char, "-")
    for char in ("!", "?"):
        text = text.replace(char, "")
    return text.strip("-")


def normalise_type(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise InvalidAnnotationError(f"'type' must be one of {', '.join(TYPES)}, got {raw!r}")
    kind = ALIASES.get(raw, raw)
    if kind not in TYPES:
        raise InvalidAnnotationError(f"unknown annotation type {raw!r}: expected one of {', '.join(TYPES)}")
    return kind


def is_language_prefixed(value: str) -> bool:
    """``xx:something``: two letters, a colon, then a name."""
    return len(value) > 3 and value[2] == ":" and value[:2].isascii() and value[:2].isalpha()


def parse_label(raw_type: Any, raw_value: Any) -> LabelValue:
    """Validate one (type, value) pair as Robotoff does; raises ``InvalidAnnotationError``."""
    kind = normalise_type(raw_type)
    if raw_value is not None and not isinstance(raw_value, str):
        raise InvalidAnnotationError(f"'value' must be a string or null, got {raw_value!r}")
    value = raw_value if raw_value else None
    if value is not None and (len(value) > MAX_VALUE_CHARS or "\x00" in value):
        raise InvalidAnnotationError(f"'value' must be at most {MAX_VALUE_CHARS} characters, without NUL")
    if value is None and kind in NEEDS_VALUE:
        raise InvalidAnnotationError(f"a value is required for type {kind!r}")
    if value is not None and kind == "label" and not is_language_prefixed(value):
        raise InvalidAnnotationError(f"a label value must be language-prefixed ('en:...'), got {value!r}")
    tag = value_tag(value) if value is not None else None
    if value is not None and not tag:
        raise InvalidAnnotationError(f"the value {value!r} has no letters or digits left once normalised")
    return LabelValue(kind, value, tag)
