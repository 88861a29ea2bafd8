"""``/health``: whether the store answers (``/`` is the query editor, kgraph.web.ui)."""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, jsonify

from .. import __version__
from ..store.base import AskResult

bp = Blueprint("meta", __name__)
log = logging.getLogger("kgraph.http")


@bp.get("/health")
def health() -> Response:
    kg = current_app.extensions["kgraph"]
    started = time.perf_counter()
    try:
        answer = kg.store.query("ASK { ?s ?p ?o }")
        ok = isinstance(answer, AskResult)
        graphs = kg.store.named_graphs()
    except Exception as exc:  # noqa: BLE001 - health reports any failure as 503
        log.warning("health check failed: %s", exc, extra={"error": type(exc).__name__})
        body = jsonify(status="unavailable", error=type(exc).__name__, version=__version__)
        body.status_code = 503
        body.headers["Retry-After"] = "5"
        return body
    return jsonify(
        status="ok" if ok else "degraded",
        version=__version__,
        # the engine and whether it persists, never a file path
        store=kg.store.name,
        persistent=kg.settings.store_path is not None or kg.settings.store_url is not None,
        graphs=len(graphs),
        empty=not answer.value,
        updates=kg.settings.allow_update,
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
    )
