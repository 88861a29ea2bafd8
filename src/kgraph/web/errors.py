"""Every error becomes a short text answer with the right status, never a trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app
from werkzeug.exceptions import HTTPException

from ..sparql.protocol import ProtocolError
from ..sparql.results import QueryTimeoutError
from ..store.base import (
    RdfSyntaxError,
    SparqlEvaluationError,
    SparqlSyntaxError,
    StoreError,
)

log = logging.getLogger("kgraph.errors")


def text_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A plain-text error response."""
    body = message if message.endswith("\n") else message + "\n"
    return Response(body, status=status, mimetype="text/plain", headers=headers or {})


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ProtocolError)
    def _protocol(exc: ProtocolError) -> Response:
        return text_error(exc.status, exc.message, exc.headers)

    @app.errorhandler(SparqlSyntaxError)
    def _syntax(exc: SparqlSyntaxError) -> Response:
        return text_error(400, f"SPARQL syntax error: {exc}")

    @app.errorhandler(RdfSyntaxError)
    def _rdf_syntax(exc: RdfSyntaxError) -> Response:
        return text_error(400, f"RDF syntax error: {exc}")

    @app.errorhandler(SparqlEvaluationError)
    def _evaluation(exc: SparqlEvaluationError) -> Response:
        remote = current_app.extensions["kgraph"].endpoint.relay.remote_error(str(exc))
        if remote is not None:  # the remote end failed, not the request
            return text_error(*remote)
        return text_error(400, f"SPARQL evaluation error: {exc}")

    @app.errorhandler(QueryTimeoutError)
    def _timeout(exc: QueryTimeoutError) -> Response:
        return text_error(503, str(exc), {"Retry-After": "1"})

    @app.errorhandler(StoreError)
    def _store(exc: StoreError) -> Response:
        log.error("store error: %s", exc)
        return text_error(503, f"the store is unavailable: {exc}", {"Retry-After": "5"})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return text_error(exc.code or 500, exc.description or exc.name, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return text_error(500, "internal server error (details are in the server log)")
