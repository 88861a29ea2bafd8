"""The Flask application: an app factory and thin views.

``create_app`` wires one store and one :class:`~kgraph.config.Settings` into
the app; views find both on ``current_app.extensions['kgraph']``. Blueprints
are listed in :data:`BLUEPRINTS` so that a feature adds its views with one
line here.
"""

from __future__ import annotations

import importlib
import logging
import time

from flask import Flask, g, request

from ..config import Settings
from ..sparql.protocol import Endpoint
from ..store import Store, open_store
from .errors import register_error_handlers

#: ``module:attribute`` of every blueprint the app serves.
BLUEPRINTS = [
    "kgraph.web.meta:bp",
    "kgraph.web.sparql_views:bp",
    "kgraph.web.graph_store:bp",
    "kgraph.web.named_queries:bp",
    "kgraph.web.reasoning:reasoning_bp",
]

log = logging.getLogger("kgraph.http")


class KGraph:
    """What the views need: the store, the settings and the protocol endpoint."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.endpoint = Endpoint(store, settings)


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """Build the WSGI app over ``store`` (opened from ``settings`` when not given)."""
    settings = settings or Settings()
    if store is None:
        store = open_store(settings.store_path)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["kgraph"] = KGraph(store, settings)
    for spec in BLUEPRINTS:
        module, _, attr = spec.partition(":")
        app.register_blueprint(getattr(importlib.import_module(module), attr))
    register_error_handlers(app)
    _install_request_hooks(app, settings)
    return app


def _install_request_hooks(app: Flask, settings: Settings) -> None:
    @app.before_request
    def _start_timer() -> None:
        g.kgraph_started = time.perf_counter()

    @app.after_request
    def _cors_and_log(response):  # type: ignore[no-untyped-def]
        if settings.cors_origins:
            response.headers["Access-Control-Allow-Origin"] = settings.cors_origins
            response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Accept, Authorization, Content-Type"
            response.headers["Access-Control-Expose-Headers"] = "Content-Type, Location"
            response.headers["Access-Control-Max-Age"] = "600"
            response.vary.add("Origin")
        started = g.get("kgraph_started", time.perf_counter())
        method, path, status = request.method, request.full_path.rstrip("?"), response.status_code

        def _log() -> None:
            ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1fms", method, path, status, ms)

        response.call_on_close(_log)
        return response
