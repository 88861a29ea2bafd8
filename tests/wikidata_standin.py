"""Local stand-ins for the Wikidata query service (tests only; never the internet).

* :class:`ScriptedEndpoint` - a small threaded HTTP server that answers SPARQL
  from an in-memory pyoxigraph store loaded with the snapshot, and can be told
  to misbehave: answer 429 with ``Retry-After``, 503, or stall past a timeout.
* :class:`OxigraphServer` - the real ``oxigraph serve`` (from the ``oxigraph``
  PyPI package) over a temporary store loaded with the snapshot.

Both listen on 127.0.0.1 on a free port and are shut down by their context
manager even when a test fails.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyoxigraph as ox

from kgraph.linking.snapshot import SNAPSHOT_PATH


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Script:
    """How the scripted endpoint misbehaves before answering normally."""

    #: Answer this many requests with 429 first.
    rate_limited: int = 0
    retry_after: str = "1"
    #: Then answer this many with 503.
    unavailable: int = 0
    #: Sleep this long before every answer (seconds).
    delay: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    query: str
    at: float


class ScriptedEndpoint:
    """A SPARQL endpoint over the snapshot, with scripted failures."""

    def __init__(self, snapshot: Path = SNAPSHOT_PATH, script: Script | None = None) -> None:
        self.store = ox.Store()
        self.store.load(path=str(snapshot), format=ox.RdfFormat.TURTLE)
        self.script = script or Script()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/sparql"

    def __enter__(self) -> ScriptedEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802
                qs = urllib.parse.urlparse(self.path).query
                endpoint._answer(self, urllib.parse.parse_qs(qs).get("query", [""])[0])

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode("utf-8")
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("application/sparql-query"):
                    query = body
                else:
                    query = urllib.parse.parse_qs(body).get("query", [""])[0]
                endpoint._answer(self, query)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler: BaseHTTPRequestHandler, query: str) -> None:
        with self._lock:
            n = len(self.requests)
            self.requests.append(
                Request(
                    handler.command, handler.path, dict(handler.headers), query, time.monotonic()
                )
            )
        if self.script.delay:
            time.sleep(self.script.delay)
        if n < self.script.rate_limited:
            return self._send(
                handler,
                429,
                b"Too Many Requests",
                "text/plain",
                {"Retry-After": self.script.retry_after},
            )
        if n < self.script.rate_limited + self.script.unavailable:
            return self._send(handler, 503, b"Service Unavailable", "text/plain")
        try:
            result = self.store.query(query)
        except SyntaxError as exc:
            return self._send(handler, 400, str(exc).encode(), "text/plain")
        if isinstance(result, ox.QuerySolutions):
            body = result.serialize(format=ox.QueryResultsFormat.JSON)
            return self._send(handler, 200, body, "application/sparql-results+json")
        if isinstance(result, ox.QueryBoolean):
            body = json.dumps({"head": {}, "boolean": bool(result)}).encode()
            return self._send(handler, 200, body, "application/sparql-results+json")
        body = ox.serialize(result, format=ox.RdfFormat.TURTLE)
        return self._send(handler, 200, body, "text/turtle")

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        ctype: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass


@dataclass
class OxigraphServer:
    """``oxigraph serve`` over a fresh store loaded with ``files`` (into the default graph)."""

    workdir: Path
    files: list[Path] = field(default_factory=lambda: [SNAPSHOT_PATH])
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/query"

    @staticmethod
    def binary() -> str | None:
        exe = Path(sys.executable).with_name("oxigraph")
        return str(exe) if exe.exists() else shutil.which("oxigraph")

    def __enter__(self) -> OxigraphServer:
        exe = self.binary()
        if exe is None:
            raise RuntimeError(
                "the oxigraph server binary (PyPI package 'oxigraph') is not installed"
            )
        location = self.workdir / "oxigraph-standin"
        for f in self.files:
            subprocess.run(
                [exe, "load", "--location", str(location), "--file", str(f)],
                check=True,
                capture_output=True,
                timeout=60,
            )
        self.port = free_port()
        self.proc = subprocess.Popen(
            [exe, "serve", "--location", str(location), "--bind", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                q = urllib.parse.urlencode({"query": "ASK {}"})
                with urllib.request.urlopen(f"{self.url}?{q}", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("oxigraph serve did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def iter_rows(result: ox.QuerySolutions) -> Iterator[tuple[str | None, ...]]:
    """Rows of a pyoxigraph SELECT result as tuples of lexical values."""
    names = [v.value for v in result.variables]
    for sol in result:
        yield tuple(None if sol[n] is None else sol[n].value for n in names)
