"""A WSGI fast path for repeated queries: a cached answer (or its 304) without Flask.

A repeated ``GET /sparql?query=...`` whose answer is in the cache costs mostly
the framework: routing, request and response objects, hooks. This middleware
answers exactly those requests itself, with the same bytes and headers the
Flask view would send (a test compares the two), and hands every other request
— anything unusual, malformed, or not cached — to the app unchanged, so every
decision about errors stays in one place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import MultiDict

from ..sparql.protocol import ProtocolError, QueryOperation, parse_request
from .cache import etag_matches, request_digest, versioned_key
from .limits import check_text_size
from .logs import ENVIRON_KEY, RequestInfo, loggable_path, request_id
from .responses import LOOKUP_KEY, Choice, query_choices_for

if TYPE_CHECKING:
    from . import KGraph

log = logging.getLogger("kgraph.http")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Longest query string the fast path looks at (longer ones go the full way).
MAX_FAST_QUERY_STRING = 16 * 1024


@dataclass(frozen=True, slots=True)
class Lookup:
    """What the fast path worked out for a request it then left to the view (a miss)."""

    op: QueryOperation
    solutions: Choice | str
    graph: Choice | str
    version: int
    key: tuple[int, bytes]
    etag: str


#: Requests the fast path remembers it has read (query string and Accept), and the
#: longest query string it remembers: clients repeat the same few requests.
MAX_MEMO = 2048
MAX_MEMO_QUERY_STRING = 2048

_Parsed = tuple[QueryOperation, "Choice | str", "Choice | str", bytes]


class CachedAnswers:
    """WSGI middleware in front of the Flask app (see the module docstring)."""

    def __init__(self, app: WSGIApp, kg: KGraph) -> None:
        self.app = app
        self.kg = kg
        #: What a (query string, Accept) asks for: reading it is deterministic.
        self._memo: dict[tuple[str, str | None], _Parsed] = {}
        origins = kg.settings.cors_origins
        self.cors = [("Access-Control-Allow-Origin", origins),
                     ("Access-Control-Expose-Headers", "Content-Type, Location, ETag, X-Request-Id"),
                     ] if origins else []
        self.vary = "Accept, Origin" if origins else "Accept"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if (method == "GET" or method == "HEAD") and environ.get("PATH_INFO") == "/sparql" \
                and not environ.get("CONTENT_LENGTH") and self.kg.cache.enabled:
            started = time.perf_counter()
            try:
                found = self._lookup(environ)
            except (ProtocolError, ValueError, UnicodeError):
                found = None  # the full path gives the proper answer
            if found is not None:
                return self._send(environ, start_response, method, started, *found)
        return self.app(environ, start_response)

    def _request(self, raw: str, accept: str | None) -> _Parsed | None:
        """What a query string and an Accept header ask for (``None``: the view must judge)."""
        args = MultiDict(parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict"))
        op = parse_request("GET", "", None, args, MultiDict(), b"")
        if not isinstance(op, QueryOperation):
            return None
        kg = self.kg
        check_text_size(op.query, kg.settings, "query")
        solutions, graph = query_choices_for(args.get("format"), accept)
        if isinstance(solutions, str) and isinstance(graph, str):
            return None
        media = (None if isinstance(solutions, str) else solutions[0],
                 None if isinstance(graph, str) else graph[0])
        digest = request_digest(kg.store_id, op.query, op.default_graph_uri, op.named_graph_uri,
                                op.inference, media)
        return op, solutions, graph, digest

    def _lookup(self, environ: dict[str, Any]) -> tuple[int, str, bytes, str] | None:
        """``(status, content type, body, etag)`` of a cached answer or a 304, else ``None``."""
        raw = environ.get("QUERY_STRING", "")
        if not raw or len(raw) > MAX_FAST_QUERY_STRING:
            return None
        accept = environ.get("HTTP_ACCEPT")
        memo_key = (raw, accept)
        parsed = self._memo.get(memo_key)
        if parsed is None:
            parsed = self._request(raw, accept)
            if parsed is None:
                return None
            if len(raw) <= MAX_MEMO_QUERY_STRING:
                if len(self._memo) >= MAX_MEMO:
                    self._memo.clear()
                self._memo[memo_key] = parsed
        op, solutions, graph, digest = parsed
        kg = self.kg
        version = kg.store.version()
        key, etag = versioned_key(version, digest)
        if etag_matches(environ.get("HTTP_IF_NONE_MATCH"), etag):
            return 304, "", b"", etag
        hit = kg.cache.peek(key)
        if hit is None:  # the view evaluates it, and need not work all this out again
            environ[LOOKUP_KEY] = Lookup(op, solutions, graph, version, key, etag)  # type: ignore[arg-type]
            return None
        return 200, hit.content_type, hit.body, etag

    def _send(self, environ: dict[str, Any], start_response: Callable[..., Any], method: str,
              started: float, status: int, content_type: str, body: bytes,
              etag: str) -> Iterable[bytes]:
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[ENVIRON_KEY] = RequestInfo(rid)
        headers = [("ETag", etag), ("Vary", self.vary),
                   ("Cache-Control", self.kg.cache_control), ("X-Request-Id", rid), *self.cors]
        if status == 200:
            headers[:0] = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
            start_response("200 OK", headers)
        else:
            start_response("304 NOT MODIFIED", headers)
            body = b""
        if log.isEnabledFor(logging.INFO):
            path = loggable_path("/sparql", environ.get("QUERY_STRING", "").encode("latin-1"))
            ms = round((time.perf_counter() - started) * 1000, 2)
            log.info("%s %s %s %.1fms", method, path, status, ms, extra={
                "request_id": rid, "method": method, "path": path, "status": status, "ms": ms,
                "bytes": len(body), "error": None})
        return [body] if method == "GET" else []
