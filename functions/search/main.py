"""Cloud function ``search``: the HTTP search API (Robotoff-compatible routes and more)."""

import flask
import functions_framework

from common.entrypoints import handle_http


@functions_framework.http
def search(request: flask.Request) -> flask.typing.ResponseReturnValue:
    return handle_http(request)
