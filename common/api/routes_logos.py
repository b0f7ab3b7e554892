"""Logo details, crops, uploads and health."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from common.api.bodies import logo_body, stored_body
from common.api.context import container, require_token
from common.api.params import id_value, uploaded_bytes
from common.errors import NotFoundError
from common.inference.images import crop_truncated, decode_image, encode_jpeg
from common.records.logos import LogoRecord

blueprint = Blueprint("logos", __name__)


def load_logo(logo_id: int) -> LogoRecord:
    logos = container().store.get_logos([logo_id])
    if not logos:
        raise NotFoundError(f"logo {logo_id} does not exist")
    return logos[0]


@blueprint.get("/api/v1/logos/<logo_id>")
def logo_details(logo_id: str) -> Any:
    """A logo: box, score, label, its image and its stored nearest neighbours."""
    logo = load_logo(id_value(logo_id))
    return jsonify(logo_body(logo, container().store.get_image(logo.image_id)))


@blueprint.get("/api/v1/logos/<logo_id>/crop")
def logo_crop(logo_id: str) -> Any:
    """The logo cut out of its image, as JPEG."""
    c = container()
    logo = load_logo(id_value(logo_id))
    image = c.store.get_image(logo.image_id)
    if image is None:
        raise NotFoundError(f"the image of logo {logo.id} is gone")
    pixels = decode_image(
        c.images.get(image.ref), max_pixels=c.settings.max_image_pixels, max_bytes=c.settings.max_image_bytes
    )
    body = encode_jpeg(crop_truncated(pixels, logo.box))
    return Response(body, mimetype="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})


@blueprint.post("/api/v1/images")
@require_token
def upload_image() -> Any:
    """Store an uploaded photo and run the pipeline on it (embedded: 201 with its logos); in the
    cloud the platform runs it, so the answer is 202 with the stored object's reference."""
    data, filename = uploaded_bytes()
    done = container().intake().submit(data, filename, request.mimetype or None, request.args.get("name"))
    result = done.result
    if result is None:
        return jsonify(stored_body(done.stored)), 202
    body = {
        "image_id": result.image_id,
        "status": result.status,
        "error": result.error,
        "logos": [logo_body(logo, None) for logo in result.logos],
    }
    return jsonify(body), (201 if result.error is None else 422)


@blueprint.get("/health")
def health() -> Any:
    """Health of every dependency this instance uses."""
    checks: dict[str, Any] = {}
    c = container()
    probes: tuple[tuple[str, Callable[[], Any]], ...] = (
        ("metadata_store", lambda: c.store.ping()),
        ("ann_index", lambda: c.fresh_index().health()),
    )
    for name, probe in probes:
        try:
            checks[name] = {"ok": True, "detail": probe()}
        except Exception as exc:  # noqa: BLE001 - health reports every failure
            checks[name] = {"ok": False, "error": type(exc).__name__}
    ok = all(check["ok"] for check in checks.values())
    return jsonify({"status": "ok" if ok else "degraded", "checks": checks}), (200 if ok else 503)
