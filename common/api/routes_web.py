"""The web page (``/`` and its assets, served from ``common/api/web``) and what it needs to know."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify

from common.api.context import container
from common.api.params import MAX_COUNT, MAX_IDS
from common.errors import NotFoundError

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).with_name("web")
ASSETS = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "annotate.js": "text/javascript",
    "style.css": "text/css",
}

blueprint = Blueprint("web", __name__)


def model_info(path: str, runtime: str) -> dict[str, Any]:
    """Where a model comes from and whether it is a stand-in the project built (``None``: unknown)."""
    standin: bool | None = None
    if runtime == "onnx" and Path(path).is_file():
        from common.models.onnx_metadata import is_standin

        try:
            standin = is_standin(Path(path))
        except Exception:  # noqa: BLE001 - an unreadable file is "unknown", not a failed request
            logger.warning("could not read the metadata of %s", path)
    return {"runtime": runtime, "model": path, "standin": standin}


def service_info() -> dict[str, Any]:
    c = container()
    s = c.settings
    try:
        dim: int | None = c.embedding_dim()
    except Exception:  # noqa: BLE001 - no embeddings and no loadable model: the dimension is unknown
        logger.warning("embedding dimension unknown", exc_info=True)
        dim = None
    flag = c.models_are_standins
    models = {
        "detector": model_info(
            s.detector_model if s.model_runtime == "onnx" else s.detector_triton_name, s.model_runtime
        ),
        "embedder": model_info(
            s.embedder_model if s.model_runtime == "onnx" else s.embedder_triton_name, s.model_runtime
        ),
    }
    standins = flag if isinstance(flag, bool) else any(m["standin"] for m in models.values())
    return {
        "embedding_dim": dim,
        "standin_models": standins,
        "models": models,
        "limits": {"max_count": MAX_COUNT, "max_ids": MAX_IDS, "max_body_bytes": s.max_body_bytes},
    }


def asset(name: str, max_age: int) -> Response:
    """A file of ``common/api/web`` (a few kB, read whole: no file handle outlives the request)."""
    body = (WEB_DIR / name).read_bytes()
    return Response(body, mimetype=ASSETS[name], headers={"Cache-Control": f"public, max-age={max_age}"})


@blueprint.get("/")
def web_page() -> Any:
    """The page that browses a logo's neighbours as a grid of crops."""
    return asset("index.html", max_age=0)


@blueprint.get("/web/<name>")
def web_asset(name: str) -> Response:
    """The page's script and style sheet."""
    if name not in ASSETS or name == "index.html":
        raise NotFoundError(f"no asset named {name[:60]!r}")
    return asset(name, max_age=300)


@blueprint.get("/api/v1/info")
def info() -> Any:
    """Embedding dimension, models (and whether they are stand-ins) and request limits."""
    return jsonify(service_info())
