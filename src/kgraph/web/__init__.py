"""The Flask application: an app factory and thin views.

``create_app`` wires one store and one :class:`~kgraph.config.Settings` into
the app; views find both on ``current_app.extensions['kgraph']``. Blueprints
are listed in :data:`BLUEPRINTS` so that a feature adds its views with one
line here.

Every request gets a request id (``X-Request-Id``, echoed on the response) and
one access log line when its response has been sent; bodies and queries are
held to the configured limits before anything is parsed.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, request

from ..config import Settings
from ..sparql.protocol import Endpoint, ProtocolError
from ..store import Store, open_store
from .cache import AnswerCache
from .errors import register_error_handlers
from .fastpath import FastQueries
from .limits import Gate, Slot
from .logs import access_log, info, loggable_path

#: ``module:attribute`` of every blueprint the app serves.
BLUEPRINTS = [
    "kgraph.web.meta:bp",
    "kgraph.web.sparql_views:bp",
    "kgraph.web.graph_store:bp",
    "kgraph.web.named_queries:bp",
    "kgraph.web.reasoning:reasoning_bp",
    "kgraph.web.linked_data:bp",
    "kgraph.web.pages:bp",
    "kgraph.web.ui:bp",
]

log = logging.getLogger("kgraph.http")


class KGraph:
    """What the views need: the store, the settings, the protocol endpoint, the answer
    cache and the evaluation gate."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.endpoint = Endpoint(store, settings)
        #: Whether the store writes answers itself (``query_serialized``).
        self.serialized = callable(getattr(store, "query_serialized", None))
        self.store_id = store_identity(store, settings)
        self.cache = AnswerCache(settings.cache_entries, settings.cache_max_bytes)
        self.gate = Gate(settings.threads, settings.max_queue, settings.queue_timeout_s)
        #: Writes through this app: started so far, and still running. An answer is only
        #: kept (and given an ETag) if no write was running when it was started and none
        #: started until it was done: a store may move its version before a write lands.
        self.writes_started = 0
        self.writes_running = 0
        self._writes_lock = threading.Lock()
        max_age = settings.cache_max_age_s
        #: ``Cache-Control`` of an answer that has an ETag.
        self.cache_control = f"public, max-age={max_age}" if max_age > 0 else "no-cache"

    def cache_headers(self, etag: str | None) -> dict[str, str]:
        """Validator and caching headers of a query answer (also of its 304)."""
        if etag is None:
            return {"Vary": "Accept", "Cache-Control": "no-store"}
        return {"ETag": etag, "Vary": "Accept", "Cache-Control": self.cache_control}

    def enter(self) -> Slot:
        """An evaluation slot for a read (see :class:`~kgraph.web.limits.Gate`)."""
        return self.gate.enter()

    def quiet(self) -> int | None:
        """The count of writes started, if none is running now (read it before evaluating)."""
        started = self.writes_started
        return started if self.writes_running == 0 else None

    def still_quiet(self, mark: int | None) -> bool:
        """Whether no write started since :meth:`quiet` gave ``mark`` (and none was running)."""
        return mark is not None and self.writes_started == mark

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold a slot for a write, and mark it running (see :meth:`quiet`)."""
        slot = self.gate.enter()
        with self._writes_lock:
            self.writes_started += 1
            self.writes_running += 1
        try:
            yield
        finally:
            with self._writes_lock:
                self.writes_running -= 1
            self.cache.clear()  # the entries are unreachable now; free their memory
            slot.release()


def store_identity(store: Store, settings: Settings) -> str:
    """Part of every cache key and ETag: which store, in which run of the server.

    Every HTTP worker of one server run must give one answer one ETag, so the id
    is the store's location plus ``KGRAPH_BOOT_ID``, which the serving supervisor
    sets once per start (a store's version may start again from 0 after a restart).
    Without it, or for a store in memory, the id is private to this process.
    """
    where = getattr(store, "path", None) or getattr(store, "root", None) or settings.store_url
    boot = os.environ.get("KGRAPH_BOOT_ID")
    if where is not None and boot:
        return f"{store.name}:{where}:{boot}"
    return f"{store.name}:{uuid.uuid4().hex}"


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """Build the WSGI app over ``store`` (opened from ``settings`` when not given)."""
    settings = settings or Settings()
    if store is None:
        store = open_store(settings.store_path)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    kg = app.extensions["kgraph"] = KGraph(store, settings)
    for spec in BLUEPRINTS:
        module, _, attr = spec.partition(":")
        app.register_blueprint(getattr(importlib.import_module(module), attr))
    register_error_handlers(app)
    _install_request_hooks(app, settings)
    app.wsgi_app = FastQueries(app.wsgi_app, kg)  # type: ignore[method-assign]
    if settings.allow_update and not settings.token:
        log.warning("updates are enabled but no token is configured (KGRAPH_TOKEN): every "
                    "write will be refused")
    return app


#: Set in the WSGI environ when the body came chunked (its framing is gone by then).
CHUNKED_KEY = "kgraph.chunked"


def _buffer_chunked_body(environ: dict[str, object], limit: int) -> None:
    """Read a body of unknown length (chunked) up to ``limit`` bytes, or 413.

    werkzeug would cut such a body at its limit without a word, and a cut Turtle
    document can still parse: the body is read here, one byte past the limit at
    most, and handed on with the Content-Length it turned out to have.
    """
    stream = environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    budget = limit + 1 if limit else None
    while budget is None or size < budget:
        chunk = stream.read(min(1 << 16, budget - size) if budget else 1 << 16)  # type: ignore[attr-defined]
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    if limit and size > limit:
        raise ProtocolError(413, f"the request body is over {limit:,} bytes, this endpoint's "
                                 "limit")
    environ["wsgi.input"] = io.BytesIO(b"".join(parts))
    environ["CONTENT_LENGTH"] = str(size)
    environ.pop("wsgi.input_terminated", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)  # the body is no longer chunked
    environ[CHUNKED_KEY] = True  # writes refuse such a body (kgraph.web.auth)


def _install_request_hooks(app: Flask, settings: Settings) -> None:
    max_body = settings.max_body_bytes
    origins = settings.cors_origins
    # Simple requests need only these two; a preflight (OPTIONS) gets the rest too.
    cors = [("Access-Control-Allow-Origin", origins),
            ("Access-Control-Expose-Headers", "Content-Type, Location, ETag, X-Request-Id")]
    preflight = [
        ("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, DELETE, OPTIONS"),
        ("Access-Control-Allow-Headers", "Accept, Authorization, Content-Type, If-None-Match, "
                                         "X-Request-Id"),
        ("Access-Control-Max-Age", "600"),
    ]

    @app.before_request
    def _start() -> None:
        environ = request.environ
        info(environ)
        declared = environ.get("CONTENT_LENGTH")
        if not declared and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            _buffer_chunked_body(environ, max_body)
        elif declared:
            declared = declared.strip()
            if not declared.isdigit() or not declared.isascii():
                raise ProtocolError(400, "Content-Length must be a non-negative integer")
            if max_body and int(declared) > max_body:
                raise ProtocolError(413, f"the request body is {int(declared):,} bytes; this "
                                         f"endpoint accepts at most {max_body:,} bytes")
            # werkzeug then reads exactly the declared length, and a body that ends short
            # (the client went away) is a 400, not a shorter request that gets applied
            environ.pop("wsgi.input_terminated", None)

    @app.after_request
    def _finish(response):  # type: ignore[no-untyped-def]
        req = request._get_current_object()  # type: ignore[attr-defined]
        state = info(req.environ)
        method = req.method
        # Appended to werkzeug's header list as they are: the values are constants and a
        # sanitised id (Headers.add would validate each one again on the hot path).
        raw = response.headers._list  # noqa: SLF001
        raw.append(("X-Request-Id", state.rid))
        if origins:
            raw.extend(cors)
            if method == "OPTIONS":
                raw.extend(preflight)
            for i, (name, value) in enumerate(raw):
                if name.lower() == "vary":
                    raw[i] = (name, value + ", Origin")
                    break
            else:
                raw.append(("Vary", "Origin"))
        if not log.isEnabledFor(logging.INFO):
            return response
        status = response.status_code
        path = loggable_path(req.path, req.query_string)
        length = response.content_length

        def _log() -> None:
            access_log(state, method, path, status, length)

        response.call_on_close(_log)
        return response
