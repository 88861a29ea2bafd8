"""Limits: query length, body size, result size, and bounded concurrency with a queue."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from kgraph.config import Settings
from kgraph.store.base import QueryTimeoutError, StoreBusyError
from kgraph.store.oxigraph import OxigraphStore
from kgraph.store.results import ResultTooLargeError
from kgraph.web import create_app

from .support import ServerProcess, auth

JSON = {"Accept": "application/sparql-results+json"}


def app_with(settings: Settings, store: OxigraphStore | None = None, **changes):  # type: ignore[no-untyped-def]
    return create_app(replace(settings, **changes), store or OxigraphStore(None))


# -- query and body length -------------------------------------------------------------
def test_long_query_text_is_413_in_every_way_of_sending_it(settings) -> None:
    client = app_with(settings, max_query_bytes=1000).test_client()
    long_query = "ASK {} #" + "x" * 1200
    ok_query = "ASK {} #" + "x" * 900
    for send in (
        lambda q: client.get("/sparql", query_string={"query": q}),
        lambda q: client.post("/sparql", data={"query": q}),
        lambda q: client.post("/sparql", data=q.encode(), content_type="application/sparql-query"),
    ):
        r = send(long_query)
        assert r.status_code == 413 and b"at most 1,000 bytes" in r.data, r.data
        assert send(ok_query).status_code == 200
    upd = "INSERT DATA { <http://a> <http://b> <http://c> } #" + "x" * 1200
    r = client.post("/sparql", data={"update": upd}, headers=auth())
    assert r.status_code == 413
    r = client.post("/sparql", data=upd.encode(), content_type="application/sparql-update",
                    headers=auth())
    assert r.status_code == 413
    assert client.get("/sparql", query_string={"query": "ASK { ?s ?p ?o }"}).json["boolean"] is False


def test_multibyte_text_is_measured_in_bytes(settings) -> None:
    client = app_with(settings, max_query_bytes=1000).test_client()
    r = client.get("/sparql", query_string={"query": "ASK {} #" + "\u00e9" * 600})  # 1208 bytes
    assert r.status_code == 413


class CountingInput(io.RawIOBase):
    """A request body of ``size`` bytes that records how much of it was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.size - self.read_bytes)
        buffer[:n] = b"x" * n
        self.read_bytes += n
        return n


def call(app, method: str, path: str, body: CountingInput, content_type: str,  # type: ignore[no-untyped-def]
         length: str | None) -> tuple[str, bytes]:
    path, _, query = path.partition("?")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
               "wsgi.url_scheme": "http", "wsgi.input": body, "wsgi.errors": sys.stderr,
               "CONTENT_TYPE": content_type, "HTTP_AUTHORIZATION": auth()["Authorization"]}
    if length is None:
        environ.update({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True})
    else:
        environ["CONTENT_LENGTH"] = length
    status: list[str] = []
    out = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    return status[0], out


@pytest.mark.parametrize("method,path,ctype", [
    ("POST", "/sparql", "application/sparql-update"),
    ("POST", "/sparql", "application/x-www-form-urlencoded"),
    ("PUT", "/store?graph=http://example.org/g", "text/turtle"),
    ("POST", "/store", "application/n-quads"),
    ("POST", "/reason/scenario", "application/json"),
])
@pytest.mark.parametrize("chunked", [False, True])
def test_body_over_the_limit_is_413_and_read_no_further(settings, method, path, ctype,
                                                        chunked: bool) -> None:
    app = app_with(settings, max_body_bytes=5000, max_query_bytes=100_000)
    body = CountingInput(10_000_000)
    status, out = call(app, method, path, body, ctype, None if chunked else "10000000")
    assert status.startswith("413"), (status, out)
    assert body.read_bytes <= 5001 + 65536
    assert b"Traceback" not in out
    assert app.extensions["kgraph"].store.count(all_graphs=True) == 0


def test_chunked_body_within_the_limit_is_read_whole(settings) -> None:
    # a read may come chunked (a write may not: 411, tests/test_write_framing.py)
    app = app_with(settings, max_body_bytes=5000)
    query = b"ASK { ?s ?p ?o }" + b" " * 3000

    class Body(CountingInput):
        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            chunk = query[self.read_bytes:self.read_bytes + min(len(buffer), 100)]
            buffer[:len(chunk)] = chunk
            self.read_bytes += len(chunk)
            return len(chunk)

    body = Body(len(query))
    status, out = call(app, "POST", "/sparql", body, "application/sparql-query", None)
    assert status.startswith("200"), out
    assert body.read_bytes == len(query) and b"false" in out


def test_a_bad_content_length_is_400(settings) -> None:
    app = app_with(settings)
    for value in ("abc", "-5", "1e3", "\u0661"):
        status, out = call(app, "POST", "/sparql", CountingInput(6), "application/sparql-query",
                           value)
        assert status.startswith("400") and b"Content-Length" in out, (value, status)


@pytest.mark.slow
def test_real_server_answers_413_before_closing(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "store", ["--no-bootstrap"]).start()
    try:
        limit = Settings().max_body_bytes
        big = b"#" * (limit + 1024)
        r = requests.post(server.url + "/store?graph=http://example.org/g", data=big,
                          headers={**auth(), "Content-Type": "text/turtle"}, timeout=60)
        assert r.status_code == 413

        def chunks():  # no Content-Length: chunked transfer encoding
            for _ in range(limit // (1 << 20) + 2):
                yield b"#" * (1 << 20)

        r = requests.post(server.sparql, data=chunks(), timeout=60,
                          headers={**auth(), "Content-Type": "application/sparql-update"})
        assert r.status_code == 413
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
    finally:
        server.stop()


# -- result size -------------------------------------------------------------------------
def _values(n: int) -> str:
    return "SELECT ?i { VALUES ?i { " + " ".join(map(str, range(n))) + " } }"


def test_small_answers_over_the_cap_are_refused_before_the_first_byte(settings) -> None:
    client = app_with(settings, max_result_rows=5).test_client()
    r = client.get("/sparql", query_string={"query": _values(6)}, headers=JSON)
    assert r.status_code == 400 and b"more than 5 rows" in r.data and "ETag" not in r.headers
    assert client.get("/sparql", query_string={"query": _values(5)}, headers=JSON).status_code == 200
    construct = ("CONSTRUCT { ?i <http://example.org/p> 1 } WHERE { VALUES ?i { "
                 + " ".join(f"<http://example.org/{i}>" for i in range(6)) + " } }")
    r = client.get("/sparql", query_string={"query": construct}, headers={"Accept": "text/turtle"})
    assert r.status_code == 400
    assert client.get("/sparql", query_string={"query": "ASK {}"}).status_code == 200


def test_large_answers_over_the_cap_are_cut_with_the_connection(settings, caplog) -> None:
    app = app_with(settings, max_result_rows=25_000, cache_entries=0)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="kgraph.http"):
        r = client.post("/sparql", data={"query": _values(40_000)}, headers={"Accept": "text/csv"})
        assert r.status_code == 200 and "Content-Length" not in r.headers  # already streaming
        with pytest.raises(ResultTooLargeError):
            r.get_data()  # the server sees the error and closes the connection
    record = next(rec for rec in caplog.records if "cut off" in rec.getMessage())
    assert record.error == "ResultTooLargeError" and record.request_id  # type: ignore[attr-defined]
    # the evaluation slot was given back
    assert app.extensions["kgraph"].gate._sem._value == app.extensions["kgraph"].gate.slots


# -- concurrency -----------------------------------------------------------------------
class BlockingStore(OxigraphStore):
    """Queries mentioning 'slow' wait until released."""

    def __init__(self) -> None:
        super().__init__(None)
        self.entered = threading.Semaphore(0)
        self.go = threading.Event()

    def query(self, sparql, **kwargs):  # type: ignore[no-untyped-def]
        if "slow" in sparql:
            self.entered.release()
            assert self.go.wait(20)
        return super().query(sparql, **kwargs)


def _in_thread(client, query: str) -> tuple[threading.Thread, list]:  # type: ignore[no-untyped-def]
    out: list = []
    t = threading.Thread(target=lambda: out.append(client.get("/sparql", query_string={"query": query})))
    t.start()
    return t, out


def test_busy_server_answers_503_with_retry_after(settings) -> None:
    store = BlockingStore()
    client = app_with(settings, store, threads=1, max_queue=0).test_client()
    assert client.get("/sparql", query_string={"query": "ASK { ?s ?p 'cached' }"}).status_code == 200
    t, out = _in_thread(client, "ASK { ?s ?p 'slow' }")
    assert store.entered.acquire(timeout=10)
    r = client.get("/sparql", query_string={"query": "ASK { ?s ?p 'other' }"})
    assert r.status_code == 503 and r.headers["Retry-After"] and b"busy" in r.data
    # a cached answer needs no evaluation slot
    assert client.get("/sparql", query_string={"query": "ASK { ?s ?p 'cached' }"}).status_code == 200
    store.go.set()
    t.join(10)
    assert out[0].status_code == 200
    assert client.get("/sparql", query_string={"query": "ASK { ?s ?p 'other' }"}).status_code == 200


def test_requests_queue_for_a_slot_then_time_out(settings) -> None:
    store = BlockingStore()
    client = app_with(settings, store, threads=1, max_queue=1, queue_timeout_s=0.3).test_client()
    t, out = _in_thread(client, "ASK { ?s ?p 'slow' }")
    assert store.entered.acquire(timeout=10)
    started = time.monotonic()
    r = client.get("/sparql", query_string={"query": "ASK { ?s ?p 'queued' }"})
    assert r.status_code == 503 and "Retry-After" in r.headers
    assert 0.25 <= time.monotonic() - started < 5
    # a queued request that gets its slot in time is answered
    client2 = app_with(settings, store, threads=1, max_queue=1, queue_timeout_s=10).test_client()
    store.go.clear()
    t2, out2 = _in_thread(client2, "ASK { ?s ?p 'slow' }")
    store.go.set()
    t.join(10)
    t2.join(10)
    assert out[0].status_code == 200 and out2[0].status_code == 200


def test_a_full_queue_refuses_at_once(settings) -> None:
    store = BlockingStore()
    app = app_with(settings, store, threads=1, max_queue=1, queue_timeout_s=10)
    client = app.test_client()
    t1, out1 = _in_thread(client, "ASK { ?s ?p 'slow' }")
    assert store.entered.acquire(timeout=10)
    t2, out2 = _in_thread(client, "ASK { ?s ?p 'queued' }")
    deadline = time.monotonic() + 10
    while app.extensions["kgraph"].gate.waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    r = client.get("/sparql", query_string={"query": "ASK { ?s ?p 'third' }"})
    assert r.status_code == 503 and time.monotonic() - started < 2
    store.go.set()
    t1.join(10)
    t2.join(10)
    assert out1[0].status_code == 200 and out2[0].status_code == 200


class FailingStore(OxigraphStore):
    def __init__(self, exc: Exception) -> None:
        super().__init__(None)
        self.exc = exc

    def query(self, sparql, **kwargs):  # type: ignore[no-untyped-def]
        raise self.exc


def test_store_busy_and_timeouts_are_503_with_retry_after(settings) -> None:
    busy = app_with(settings, FailingStore(StoreBusyError("all 4 workers are busy"))).test_client()
    r = busy.get("/sparql", query_string={"query": "ASK {}"})
    assert r.status_code == 503 and r.headers["Retry-After"] and b"busy" in r.data
    slow = app_with(settings, FailingStore(QueryTimeoutError("stopped after 30 s"))).test_client()
    r = slow.get("/sparql", query_string={"query": "ASK {}"})
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert b"time limit" in r.data and "ETag" not in r.headers


def test_streamed_and_head_answers_give_their_slot_back(settings) -> None:
    app = app_with(settings, threads=1, max_queue=0, cache_entries=0)
    client = app.test_client()
    gate = app.extensions["kgraph"].gate
    many = _values(30_000)
    assert len(client.post("/sparql", data={"query": many}, headers={"Accept": "text/csv"}).data) > 65536
    assert client.head("/sparql", query_string={"query": many}, headers={"Accept": "text/csv"}).status_code == 200
    assert client.head("/store").status_code == 200
    assert gate._sem._value == 1
    assert client.get("/sparql", query_string={"query": "ASK {}"}).status_code == 200


def test_cut_answers_are_not_complete_for_a_real_client(settings) -> None:
    """Over a real HTTP server, a cut answer ends without its final chunk: the client errs."""
    import waitress

    app = app_with(settings, max_result_rows=25_000, cache_entries=0)
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    port = server.effective_port  # type: ignore[union-attr]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/sparql"
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            r = requests.post(url, data={"query": _values(40_000)}, headers={"Accept": "text/csv"},
                              timeout=30)
            r.content  # noqa: B018 - reading the body is the point
        r = requests.post(url, data={"query": _values(20_000)}, headers={"Accept": "text/csv"},
                          timeout=30)
        assert r.status_code == 200 and len(r.text.splitlines()) == 20_001
    finally:
        server.close()
        thread.join(5)


def test_a_body_shorter_than_its_content_length_is_not_applied(settings) -> None:
    """A server that marks its input terminated hands on whatever arrived; the client went
    away mid-body, so the request is refused, not applied cut."""
    app = app_with(settings)
    turtle = b"<http://example.org/s> <http://example.org/p> 'x' ."
    environ_input = io.BytesIO(turtle)
    status: list[str] = []
    environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": "/store",
               "QUERY_STRING": "graph=http://example.org/g", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": environ_input, "wsgi.errors": sys.stderr,
               "wsgi.input_terminated": True, "CONTENT_TYPE": "text/turtle",
               "CONTENT_LENGTH": str(len(turtle) + 500),
               "HTTP_AUTHORIZATION": auth()["Authorization"]}
    b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    assert status[0].startswith("400"), status
    assert app.extensions["kgraph"].store.count(all_graphs=True) == 0
