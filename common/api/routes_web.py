"""The web page (``/`` and its assets, served from ``common/api/web``) and what it needs to know."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request

from common.api.context import container, this_app
from common.api.local_identity import local_identity
from common.api.params import MAX_COUNT, MAX_IDS, int_param
from common.errors import BadQuery, LogoAnnError, NotFoundError
from common.labels.values import TAXONOMY_OF_TYPE, normalise_type, value_tag
from common.ports.models import CropEmbedder, LogoDetector

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).with_name("web")
ASSETS = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "annotate.js": "text/javascript",
    "style.css": "text/css",
    "views.js": "text/javascript",
    "lists.js": "text/javascript",
    "ui.js": "text/javascript",
}

blueprint = Blueprint("web", __name__)
MAX_TYPED = 200


def model_info(model: Callable[[], LogoDetector | CropEmbedder], name: str, runtime: str) -> dict[str, Any]:
    """Where a model comes from and whether it is a stand-in the project built (``None``: unknown),
    as the loaded model's own metadata says: the API reads no model file."""
    standin: bool | None = None
    try:
        standin = model().standin
    except Exception:  # noqa: BLE001 - a model that cannot load is "unknown", not a failed request
        logger.warning("could not load the model %s", name, exc_info=True)
    return {"runtime": runtime, "model": name, "standin": standin}


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
            lambda: c.detector,
            s.detector_model if s.model_runtime == "onnx" else s.detector_triton_name,
            s.model_runtime,
        ),
        "embedder": model_info(
            lambda: c.embedder,
            s.embedder_model if s.model_runtime == "onnx" else s.embedder_triton_name,
            s.model_runtime,
        ),
    }
    standins = flag if isinstance(flag, bool) else any(m["standin"] for m in models.values())
    return {
        "embedding_dim": dim,
        "standin_models": standins,
        "models": models,
        "limits": {"max_count": MAX_COUNT, "max_ids": MAX_IDS, "max_body_bytes": s.max_body_bytes},
        "annotator": annotator(),
    }


def annotator() -> dict[str, Any]:
    """Who this request's writes would be recorded as without credentials (``local_identity``)."""
    s = container().settings
    local = local_identity(this_app().local_user, s, request.environ, request.headers)
    return {"local_user": local.name if local else None, "token_set": bool(s.api_token)}


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


def taxonomy_ids(kind: str, tag: str, count: int) -> tuple[list[str], str | None]:
    """Taxonomy ids of the type's taxonomy containing ``tag``; the second item says why none could be read."""
    name = TAXONOMY_OF_TYPE.get(kind)
    taxonomies = container().taxonomies
    if name is None or not tag or not taxonomies.configured(name):
        return [], None
    try:
        ids = taxonomies.get(name).ids
    except LogoAnnError as exc:  # offline, or the file is bad: the values already used still complete
        return [], f"the {name} taxonomy is unavailable: {exc}"
    starts = sorted(i for i in ids if i.split(":", 1)[-1].startswith(tag))
    first = set(starts)
    within = sorted(i for i in ids if tag in i and i not in first) if len(starts) < count else []
    return (starts + within)[:count], None


@blueprint.get("/api/v1/values/complete")
def complete() -> Any:
    """Completions for the page's value field: values already used (most used first), then taxonomy ids."""
    kind = normalise_type(request.args["type"]) if "type" in request.args else None
    text = request.args.get("q", "")
    if len(text) > MAX_TYPED:
        raise BadQuery(f"'q' may hold at most {MAX_TYPED} characters")
    count = int_param(request.args, "count", 20, 1, 100)
    tag = value_tag(text)
    used = container().notes.used_values(kind, tag, count)
    rows = [{"type": k, "value": shown, "canonical": c, "logos": n, "source": "used"} for k, c, shown, n in used]
    ids, problem = taxonomy_ids(kind, tag, count) if kind else ([], None)
    known = {r["canonical"] for r in rows}
    rows += [
        {"type": kind, "value": i, "canonical": i, "logos": 0, "source": "taxonomy"} for i in ids if i not in known
    ]
    return jsonify({"values": rows[:count], "count": min(len(rows), count), "taxonomy_error": problem})
