"""The search API: one WSGI app served by the ``search`` function and by ``logo-ann serve``."""

from common.api.app import create_app

__all__ = ["create_app"]
