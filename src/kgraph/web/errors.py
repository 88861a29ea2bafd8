"""Every error becomes a short text answer with the right status, never a trace.

A client's mistake is a 4xx that says what to fix. The only 5xx are deliberate
503s (busy, timed out, store unavailable; with ``Retry-After``) and a generic 500
for true bugs, which says nothing about the server's internals: its details go
to the log, with the request id that the response also carries. Messages pass
through :func:`scrub`, which removes the server's own file paths.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from .. import resources
from ..sparql.protocol import ProtocolError
from ..store.base import (
    EngineCrashError,
    QueryTimeoutError,
    RdfSyntaxError,
    SparqlEvaluationError,
    SparqlSyntaxError,
    StoreBusyError,
    StoreError,
    StoreReadOnlyError,
)
from ..store.results import ResultTooLargeError
from .logs import info

log = logging.getLogger("kgraph.errors")

#: Longest error message sent (an engine may quote a whole megabyte query back).
MAX_MESSAGE = 2000


def _server_paths() -> list[str]:
    paths = {*(str(p) for p in resources.locations()), sys.prefix, sys.base_prefix,
             sys.exec_prefix,
             tempfile.gettempdir(), os.path.expanduser("~"), os.getcwd()}
    return sorted((p for p in paths if p and len(p) > 1), key=len, reverse=True)


#: A server path as a whole (not "/tmp" inside "http://example.org/tmp"), ``file:`` IRIs too.
_PATHS = re.compile(r"(?<![\w.-])(?:file://)?(?:"
                    + "|".join(re.escape(p) for p in _server_paths()) + r")(?![\w.-])")
_TRACE = re.compile(r'Traceback \(most recent call last\)|File "[^"]*", line \d+')


def scrub(message: str) -> str:
    """``message`` without the server's file paths or trace lines, and not too long."""
    message = _PATHS.sub("<server path>", message)
    message = _TRACE.sub("<trace removed>", message)
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + " ... (cut)"
    return message


def text_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A plain-text error response."""
    body = scrub(message)
    body = body if body.endswith("\n") else body + "\n"
    return Response(body, status=status, mimetype="text/plain", headers=headers or {})


def _noted(exc: BaseException) -> None:
    """Name the exception class in the request's access log line."""
    info(request.environ).error = type(exc).__name__


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ProtocolError)
    def _protocol(exc: ProtocolError) -> Response:
        _noted(exc)
        return text_error(exc.status, exc.message, exc.headers)

    @app.errorhandler(SparqlSyntaxError)
    def _syntax(exc: SparqlSyntaxError) -> Response:
        _noted(exc)
        return text_error(400, f"SPARQL syntax error: {exc}")

    @app.errorhandler(RdfSyntaxError)
    def _rdf_syntax(exc: RdfSyntaxError) -> Response:
        _noted(exc)
        return text_error(400, f"RDF syntax error: {exc}")

    @app.errorhandler(SparqlEvaluationError)
    def _evaluation(exc: SparqlEvaluationError) -> Response:
        _noted(exc)
        remote = current_app.extensions["kgraph"].endpoint.relay.remote_error(str(exc))
        if remote is not None:  # the remote end failed, not the request
            return text_error(*remote)
        return text_error(400, f"SPARQL evaluation error: {exc}")

    @app.errorhandler(ResultTooLargeError)
    def _too_large(exc: ResultTooLargeError) -> Response:
        _noted(exc)
        return text_error(400, str(exc))

    @app.errorhandler(QueryTimeoutError)
    def _timeout(exc: QueryTimeoutError) -> Response:
        _noted(exc)
        limit = current_app.extensions["kgraph"].settings.query_timeout_s
        return text_error(503, f"the query was stopped: it ran past this endpoint's time limit "
                               f"of {limit:g} s ({exc}); simplify it or add LIMIT",
                          {"Retry-After": "1"})

    @app.errorhandler(StoreReadOnlyError)
    def _read_only(exc: StoreReadOnlyError) -> Response:
        _noted(exc)
        return text_error(403, "this store is read-only; nothing was changed")

    @app.errorhandler(StoreBusyError)
    def _busy(exc: StoreBusyError) -> Response:
        _noted(exc)
        return text_error(503, str(exc) or "the server is busy; try again shortly",
                          {"Retry-After": "1"})

    @app.errorhandler(EngineCrashError)
    def _crash(exc: EngineCrashError) -> Response:
        _noted(exc)
        log.warning("engine process crashed on a request: %s", exc,
                    extra={"request_id": info(request.environ).rid,
                           "error": type(exc).__name__})
        if exc.killed:  # not the request's doing: the client may simply retry
            return text_error(503, "the process evaluating this request was stopped from "
                                   "outside; only this request was lost, retry it",
                              {"Retry-After": "1"})
        return text_error(400, "the engine process evaluating this request crashed; the request "
                               "was isolated, so only it was lost and the server is unaffected. "
                               "It is likely too deeply nested or too large for the engine")

    @app.errorhandler(StoreError)
    def _store(exc: StoreError) -> Response:
        _noted(exc)
        log.error("store error: %s", exc, extra={"request_id": info(request.environ).rid,
                                                 "error": type(exc).__name__})
        return text_error(503, "the store is unavailable; try again later", {"Retry-After": "5"})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        _noted(exc)
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        code = exc.code or 500
        message = exc.description or exc.name
        if code >= 500:  # werkzeug's own 5xx carry no client-facing detail
            message = "internal server error (details are in the server log)"
        return text_error(code, message, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        _noted(exc)
        log.exception("unhandled error", extra={"request_id": info(request.environ).rid,
                                                "error": type(exc).__name__})
        return text_error(500, "internal server error (details are in the server log)")
