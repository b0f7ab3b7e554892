"""The app factory: the route modules' blueprints, the error handlers and the request hooks."""

from __future__ import annotations

from common.api import (
    openapi,
    routes_admin,
    routes_ann,
    routes_annotations,
    routes_batch,
    routes_corrections,
    routes_label_search,
    routes_logos,
    routes_quests,
    routes_robotoff,
    routes_search,
    routes_web,
)
from common.api.context import ApiApp
from common.api.error_handlers import register_errors
from common.api.fast_ann import FastAnnSearch
from common.api.hooks import register_hooks
from common.api.slashes import StripTrailingSlash
from common.bootstrap import Container


def create_app(container: Container) -> ApiApp:
    """The search API over a ``Container`` (see ``common.bootstrap``)."""
    app = ApiApp("logo_ann", container, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = container.settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(routes_ann.blueprint)
    app.register_blueprint(routes_logos.blueprint)
    app.register_blueprint(routes_batch.blueprint)
    app.register_blueprint(routes_search.blueprint)
    app.register_blueprint(routes_web.blueprint)
    app.register_blueprint(routes_admin.blueprint)
    app.register_blueprint(routes_robotoff.blueprint)
    app.register_blueprint(routes_label_search.blueprint)
    app.register_blueprint(routes_annotations.blueprint)
    app.register_blueprint(routes_quests.blueprint)
    app.register_blueprint(routes_corrections.blueprint)
    app.register_blueprint(openapi.blueprint)
    register_errors(app)
    register_hooks(app)
    # the plain ANN search below Flask (``common.api.fast_ann``), after trailing slashes are dropped
    app.wsgi_app = StripTrailingSlash(FastAnnSearch(app, container, app.wsgi_app))  # type: ignore[method-assign]
    return app
