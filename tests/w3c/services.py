"""Local stand-ins for the remote SPARQL endpoints of the federation tests.

Each ``qt:serviceData`` endpoint (``http://example.org/sparql``) becomes a small
threaded HTTP server on 127.0.0.1 and a free port, holding that endpoint's data
in an in-memory kgraph store and answering with kgraph's own result writers.
The test's query is rewritten to call the stand-in instead (the endpoint does
the same through ``settings.service_map``). Every other remote IRI a test
would reach (``SERVICE SILENT <http://invalid.endpoint.org/sparql>``, ``LOAD
<http://example.org/faraway>``) is pointed at a stand-in that always answers
503, so nothing leaves the machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from kgraph.store import AskResult, GraphResult, SparqlSyntaxError, open_store
from kgraph.store.base import Store
from kgraph.store.results import write_graph, write_solutions


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        params = parse_qs(urlsplit(self.path).query)
        self._answer(params.get("query", [""])[0])

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype == "application/x-www-form-urlencoded":
            self._answer(parse_qs(body).get("query", [""])[0])
        else:
            self._answer(body)

    def _answer(self, query: str) -> None:
        store = self.server.store
        if store is None:
            self._reply(503, b"this stand-in endpoint is unavailable by design")
            return
        try:
            result = store.query(query)
            if isinstance(result, GraphResult):
                body = write_graph(result, "application/n-triples")
                self._reply(200, body, "application/n-triples")
                return
            accept = self.headers.get("Accept") or ""
            media = ("application/sparql-results+json"
                     if "json" in accept or "xml" not in accept
                     else "application/sparql-results+xml")
            if isinstance(result, AskResult):
                text = "".join(write_solutions(result, media))
            else:
                result.rows = list(result.rows)
                text = "".join(write_solutions(result, media))
            self._reply(200, text.encode("utf-8"), media)
        except SparqlSyntaxError as exc:
            self._reply(400, str(exc).encode("utf-8"))
        except Exception as exc:  # a stand-in reports, it does not crash
            self._reply(500, f"{type(exc).__name__}: {exc}".encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: Store | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.store = store


class StandIn:
    """One running stand-in endpoint; ``url`` is where it answers."""

    def __init__(self, store: Store | None) -> None:
        self._server = _Server(store)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}/sparql"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_endpoint(documents: Iterable[tuple[bytes, str, str]]) -> StandIn:
    """A stand-in holding ``(data, media_type, base_iri)`` documents in its default graph."""
    store = open_store(None, union_default_graph=False)
    for data, media_type, base in documents:
        store.load(data, media_type, base_iri=base)
    return StandIn(store)


def start_unavailable() -> StandIn:
    """A stand-in that refuses every request with 503."""
    return StandIn(None)
