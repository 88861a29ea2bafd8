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

    cors = [
        ("Access-Control-Allow-Origin", settings.cors_origins),
        ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS"),
        ("Access-Control-Allow-Headers", "Accept, Authorization, Content-Type"),
        ("Access-Control-Expose-Headers", "Content-Type, Location"),
        ("Access-Control-Max-Age", "600"),
    ]

    @app.after_request
    def _cors_and_log(response):  # type: ignore[no-untyped-def]
        if settings.cors_origins:
            for name, value in cors:
                response.headers.set(name, value)
            response.vary.add("Origin")
        started = g.get("kgraph_started", time.perf_counter())
        query = request.query_string.decode("latin-1")  # as sent: cheaper than full_path
        method, status = request.method, response.status_code
        path = f"{request.path}?{query}" if query else request.path

        def _log() -> None:
            ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1fms", method, path, status, ms)

        response.call_on_close(_log)
        return response
