"""Annotation values: Robotoff's validation and the ``annotation_value_tag`` rule."""

from __future__ import annotations

import pytest

from common.errors import InvalidAnnotationError
from common.labels.values import parse_label, value_tag


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("en:EU Organic", "en:eu-organic"),
        ("Ben & Jerry's", "ben-jerry-s"),
        ("Crème Brûlée!", "creme-brulee"),
        ("  -Dr. Oetker?-", "dr--oetker"),
        ("Agriculture Biologique", "agriculture-biologique"),
        ("fr:Label Rouge", "fr:label-rouge"),
        ("Ça va ?", "ca-va"),
    ],
)
def test_value_tag(value: str, tag: str) -> None:
    assert value_tag(value) == tag


def test_nutrition_label_is_stored_as_nutritional_label() -> None:
    parsed = parse_label("nutrition_label", "")
    assert (parsed.type, parsed.value, parsed.tag) == ("nutritional_label", None, None)


@pytest.mark.parametrize("kind", ["brand", "category", "label", "store"])
def test_types_that_need_a_value(kind: str) -> None:
    with pytest.raises(InvalidAnnotationError, match="value is required"):
        parse_label(kind, "")
    with pytest.raises(InvalidAnnotationError, match="value is required"):
        parse_label(kind, None)


@pytest.mark.parametrize("kind", ["no_logo", "qr_code", "packaging", "packager_code", "nutritional_label"])
def test_types_that_may_have_no_value(kind: str) -> None:
    assert parse_label(kind, None).value is None


@pytest.mark.parametrize("value", ["organic", "e:bio", "12:bio", "en:"])
def test_label_values_must_be_language_prefixed(value: str) -> None:
    with pytest.raises(InvalidAnnotationError, match="language-prefixed"):
        parse_label("label", value)


@pytest.mark.parametrize(
    ("kind", "value"),
    [("logo", "x"), ("", "x"), (None, "x"), (3, "x"), ("brand", 5), ("brand", "a\x00b"), ("brand", "!?")],
)
def test_bad_input_is_refused(kind: object, value: object) -> None:
    with pytest.raises(InvalidAnnotationError):
        parse_label(kind, value)


def test_value_kept_as_sent() -> None:
    parsed = parse_label("label", "en:EU Organic")
    assert (parsed.type, parsed.value, parsed.tag) == ("label", "en:EU Organic", "en:eu-organic")
