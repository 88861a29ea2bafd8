"""Errors: a 4xx for every client mistake, nothing internal in any answer, request ids, logs."""

from __future__ import annotations

import io
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import kgraph
from kgraph.store.base import (
    EngineCrashError,
    SparqlEvaluationError,
    StoreError,
    StoreReadOnlyError,
)
from kgraph.store.oxigraph import OxigraphStore
from kgraph.web import create_app
from kgraph.web.auth import token_matches
from kgraph.web.logs import (
    JsonFormatter,
    RequestInfo,
    access_log,
    configure_logging,
    loggable_path,
    request_id,
)

from .support import TOKEN, auth

#: The checkout these tests run from.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
EX = "http://example.org/"
INTERNALS = ("Traceback", 'File "', str(PROJECT_ROOT), "site-packages", sys.prefix,
             str(Path(kgraph.__file__).parent))


def assert_clean(r) -> None:  # type: ignore[no-untyped-def]
    """No trace and no server path in the body or any header, and a request id."""
    text = r.get_data(as_text=True) + "\n".join(f"{k}: {v}" for k, v in r.headers.items())
    for marker in INTERNALS:
        assert marker not in text, (marker, text[:500])
    assert r.headers.get("X-Request-Id")


BAD_REQUESTS = [
    ("get", "/sparql?query=%zz%7B", {}, None),
    ("get", "/sparql?query=ASK%7B%7D%FF", {}, None),
    ("get", "/sparql?query=ASK%7B%7D&query=ASK%7B%7D", {}, None),
    ("get", "/sparql?query=ASK%7B%7D&format=pdf", {}, None),
    ("get", "/sparql?query=ASK%7B%7D", {"Accept": ";;;,,,q=x"}, None),
    ("get", "/sparql?query=ASK%7B%7D", {"Accept": "x/y;q=0.5," * 20000}, None),
    ("get", "/sparql?query=ASK%7B%7D&inference=maybe", {}, None),
    ("get", "/sparql?query=ASK%7B%7D&default-graph-uri=relative", {}, None),
    ("get", "/sparql?update=CLEAR%20ALL", {}, None),
    ("get", "/sparql?query=" + "%7B" * 5000, {}, None),
    ("get", "/sparql?query=SELECT%20*%20%7B%20SERVICE%20%3Cfile%3A%2F%2F%2Fetc%2Fpasswd%3E%20%7B%7D%20%7D", {}, None),
    ("post", "/sparql", {"Content-Type": "application/x-www-form-urlencoded"}, b"query=%C3%28"),
    ("post", "/sparql", {"Content-Type": "application/sparql-query; charset=nope"}, b"ASK {}"),
    ("post", "/sparql", {"Content-Type": "application/sparql-query"}, b"ASK {} \xff"),
    ("post", "/sparql", {"Content-Type": "image/png"}, b"x"),
    ("post", "/sparql", {}, b"x"),
    ("post", "/sparql", {"Content-Type": "application/x-www-form-urlencoded"}, b"nothing=1"),
    ("post", "/sparql", {"Content-Type": "application/x-www-form-urlencoded",
                         "Authorization": "Bearer " + "x" * 100_000}, b"update=CLEAR%20ALL"),
    ("post", "/sparql", {"Content-Type": "application/x-www-form-urlencoded",
                         "Authorization": "Bearer \u00e9\u00e9"}, b"update=CLEAR%20ALL"),
    ("post", "/sparql", {"Content-Type": "application/sparql-update", **auth()},
     b"LOAD <file:///etc/passwd>"),
    ("put", "/sparql", {}, None),
    ("patch", "/sparql", {}, None),
    ("trace", "/sparql", {}, None),
    ("get", "/nowhere", {}, None),
    ("get", "/store?graph=relative", {}, None),
    ("get", "/store?graph=" + EX + "a&graph=" + EX + "b", {}, None),
    ("get", "/store?graph=" + EX + "a&default", {}, None),
    ("get", "/store?graph=" + EX + "missing", {}, None),
    ("get", "/store", {"Accept": "image/png"}, None),
    ("put", "/store?graph=" + EX + "g", auth(), b"<a> <b> <c> ."),
    ("put", "/store?graph=" + EX + "g", {**auth(), "Content-Type": "text/turtle"}, b"<a> <b"),
    ("put", "/store?graph=" + EX + "g", {**auth(), "Content-Type": "application/rdf+xml"},
     b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'),
    ("put", "/store", {**auth(), "Content-Type": "text/turtle"}, b""),
    ("patch", "/store", {}, None),
    ("get", "/reason/explain?depth=abc&s=a&p=b&o=c", {}, None),
    ("get", "/reason/explain?depth=-1&s=a&p=b&o=c", {}, None),
    ("get", "/reason/explain?depth=999999999&s=a&p=b&o=c", {}, None),
    ("get", "/reason/explain", {}, None),
    ("get", "/reason/explain?s=a&p=b&o=c&format=xml", {}, None),
    ("get", "/reason/explain?s=nope:x&p=b&o=c", {}, None),
    ("post", "/reason/scenario", {"Content-Type": "application/json"}, b"{bad"),
    ("post", "/reason/scenario", {"Content-Type": "application/json"},
     b"[" * 100_000 + b"]" * 100_000),
    ("post", "/reason/scenario", {"Content-Type": "application/json"}, b"\xff\xfe"),
    ("post", "/reason/scenario?explain=maybe", {"Content-Type": "application/json"}, b"[]"),
    ("post", "/reason/scenario", {"Content-Type": "image/png"}, b"x"),
    ("get", "/queries/nope", {}, None),
    ("get", "/queries/..%2F..%2Fetc%2Fpasswd", {}, None),
    ("delete", "/health", {}, None),
]


@pytest.mark.parametrize(("method", "path", "headers", "body"), BAD_REQUESTS,
                         ids=[f"{m} {p[:60]}" for m, p, _, _ in BAD_REQUESTS])
def test_client_mistakes_are_4xx_without_internals(client, method, path, headers, body) -> None:
    r = client.open(path, method=method.upper(), headers=headers, data=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.data[:300])
    assert_clean(r)
    # nothing was stored by any of them
    assert client.application.extensions["kgraph"].store.count(all_graphs=True) == 0


def test_unexpected_exception_is_a_generic_500(client, caplog) -> None:
    kg = client.application.extensions["kgraph"]

    def boom(text, dataset):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"bug near {kgraph.__file__} reading {PROJECT_ROOT}/secret")

    kg.endpoint.run = boom
    with caplog.at_level(logging.ERROR):
        r = client.get("/sparql", query_string={"query": "ASK {}"})
    assert r.status_code == 500 and r.mimetype == "text/plain"
    assert b"internal server error" in r.data
    assert_clean(r)
    record = next(rec for rec in caplog.records if rec.getMessage() == "unhandled error")
    assert record.request_id == r.headers["X-Request-Id"] and record.exc_info  # type: ignore[attr-defined]


def test_store_errors_do_not_leak_paths(client, tmp_path) -> None:
    kg = client.application.extensions["kgraph"]

    def unavailable(text, dataset):  # type: ignore[no-untyped-def]
        raise StoreError(f"cannot open store at {PROJECT_ROOT}/var/store: lock held")

    kg.endpoint.run = unavailable
    r = client.get("/sparql", query_string={"query": "ASK {}"})
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert_clean(r)

    def evaluation(text, dataset):  # type: ignore[no-untyped-def]
        raise SparqlEvaluationError(f"failed to read file://{PROJECT_ROOT}/data/x.ttl")

    kg.endpoint.run = evaluation
    r = client.get("/sparql", query_string={"query": "ASK {}"})
    assert r.status_code == 400 and b"<server path>" in r.data
    assert_clean(r)


def test_engine_crash_says_the_request_was_isolated(settings) -> None:
    class Crashing(OxigraphStore):
        def query(self, sparql, **kwargs):  # type: ignore[no-untyped-def]
            raise EngineCrashError("worker 3 died with SIGSEGV")

    r = create_app(settings, Crashing(None)).test_client().get("/sparql", query_string={"query": "ASK {}"})
    assert r.status_code == 400 and b"isolated" in r.data
    assert_clean(r)


def test_read_only_store_refuses_writes_even_past_the_routes(settings, tmp_path) -> None:
    path = tmp_path / "store"
    writable = OxigraphStore(path)
    writable.update(f'INSERT DATA {{ GRAPH <{EX}g> {{ <{EX}s> <{EX}p> "kept" }} }}')
    writable.close()
    del writable
    store = OxigraphStore(path, read_only=True)
    client = create_app(settings, store).test_client()  # updates on, token configured
    r = client.post("/sparql", data={"update": "CLEAR ALL"}, headers=auth())
    assert r.status_code == 403 and b"read-only" in r.data
    r = client.put(f"/store?graph={EX}g", data=f"<{EX}s> <{EX}p> 'new' .",
                   content_type="text/turtle", headers=auth())
    assert r.status_code == 403
    assert client.delete(f"/store?graph={EX}g", headers=auth()).status_code == 403
    with pytest.raises(StoreReadOnlyError):  # a route that forgot the token check
        store.update("CLEAR ALL")
    r = client.get("/sparql", query_string={"query": "SELECT ?o { ?s ?p ?o }"},
                   headers={"Accept": "text/csv"})
    assert r.data.decode().split() == ["o", "kept"]


def test_token_comparison() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc")
    assert not token_matches("abcd", "abc") and not token_matches("ab", "abc")
    assert not token_matches("", None) and not token_matches("anything", None)
    assert not token_matches("", "")
    assert not token_matches("\u00e9", "abc")


def test_no_token_configured_looks_like_a_wrong_token(settings) -> None:
    with_token = create_app(settings, OxigraphStore(None)).test_client()
    without = create_app(replace(settings, token=None), OxigraphStore(None)).test_client()
    wrong = with_token.post("/sparql", data={"update": "CLEAR ALL"}, headers={"Authorization": "Bearer x"})
    none = without.post("/sparql", data={"update": "CLEAR ALL"}, headers={"Authorization": "Bearer x"})
    assert wrong.status_code == none.status_code == 403 and wrong.data == none.data
    ok = without.post("/sparql", data={"update": "CLEAR ALL"}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 403  # even the right token: none is configured


# -- request ids and logs ----------------------------------------------------------------
def test_every_response_has_a_request_id(client) -> None:
    seen = set()
    for r in (client.get("/health"), client.get("/nowhere"), client.put("/sparql"),
              client.get("/sparql", query_string={"query": "ASK {"}),
              client.options("/sparql")):
        rid = r.headers["X-Request-Id"]
        assert rid and rid not in seen
        seen.add(rid)
    r = client.get("/health", headers={"X-Request-Id": "trace-42.a:b"})
    assert r.headers["X-Request-Id"] == "trace-42.a:b"
    q = client.get("/sparql", query_string={"query": "ASK {}"})
    again = client.get("/sparql", query_string={"query": "ASK {}"},
                       headers={"If-None-Match": q.headers["ETag"], "X-Request-Id": "rev-1"})
    assert again.status_code == 304 and again.headers["X-Request-Id"] == "rev-1"
    for insane in ("two words", "x" * 300, "a\tb", "<script>", ""):
        rid = client.get("/health", headers={"X-Request-Id": insane}).headers["X-Request-Id"]
        assert rid != insane and request_id(rid) == rid


def test_access_log_is_one_json_object_per_request_without_secrets(client) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("kgraph.http")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        r = client.get("/health?token=s3cr3t&probe=1")
        r.close()  # the line is written once the response has been sent
        bad = client.get("/sparql", query_string={"query": "SELECT * {", "access_token": "t0k"})
        bad.close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["request_id"] == r.headers["X-Request-Id"]
    assert first["method"] == "GET" and first["status"] == 200 and first["path"].startswith("/health")
    assert "s3cr3t" not in out.getvalue() and "t0k" not in out.getvalue()
    assert "token=***" in first["path"] and "probe=1" in first["path"]
    assert isinstance(first["ms"], float) and first["bytes"] == len(r.data)
    assert first["time"].endswith("Z") and first["level"] == "info"
    assert second["status"] == 400 and second["error"] == "SparqlSyntaxError"


def test_long_values_are_cut_in_logs() -> None:
    path = loggable_path("/sparql", ("query=" + "x" * 5000 + "&password=hunter2").encode())
    assert len(path) < 400 and "hunter2" not in path and "password=***" in path


def test_configure_logging_writes_json_lines() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    knobs = {k: getattr(logging, k) for k in ("_srcfile", "logThreads", "logProcesses",
                                              "logMultiprocessing")}
    out = io.StringIO()
    try:
        configure_logging(stream=out)
        logging.getLogger("kgraph.test").warning("hello %s", "there", extra={"request_id": "r1"})
        try:
            raise ValueError("inner")
        except ValueError:
            logging.getLogger("kgraph.test").exception("failed")
        state = RequestInfo("r2")
        access_log(state, "GET", "/sparql?query=ASK", 200, 7)  # queued without a record
        logging.getLogger("kgraph.http").info(  # the same line through a record
            "%s %s %s %.1fms", "GET", "/sparql?query=ASK", 200, 1.25, extra={
                "request_id": "r2", "method": "GET", "path": "/sparql?query=ASK",
                "status": 200, "ms": 1.25, "bytes": 7, "error": None})
        root.handlers[-1].flush()  # lines are written by a thread of their own
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, value in knobs.items():
            setattr(logging, name, value)
    hello, failed, direct, logged = (json.loads(x) for x in out.getvalue().splitlines()
                                     if x.startswith("{"))
    for line in (direct, logged):
        del line["time"], line["ms"]
        line["msg"] = line["msg"].rsplit(" ", 1)[0]
    assert direct == logged and direct["request_id"] == "r2" and direct["logger"] == "kgraph.http"
    assert hello["msg"] == "hello there" and hello["request_id"] == "r1"
    assert hello["level"] == "warning"
    assert failed["exception"] == "ValueError" and "inner" in failed["trace"]


@pytest.mark.parametrize("iri", ["http://[::1", "http://]x", "http://[zz]/"])
def test_unparseable_iri_parameters_are_400(client, iri: str) -> None:
    from urllib.parse import quote

    q = quote(iri, safe="")
    for method, path, ctype in (("GET", f"/sparql?query=ASK%7B%7D&default-graph-uri={q}", None),
                                ("POST", f"/sparql?using-graph-uri={q}", "application/sparql-update"),
                                ("GET", f"/store?graph={q}", None),
                                ("PUT", f"/store?graph={q}", "text/turtle")):
        r = client.open(path, method=method, headers=auth(), content_type=ctype,
                        data=b"INSERT DATA { <urn:a> <urn:b> <urn:c> }" if ctype else None)
        assert r.status_code == 400, (method, path, r.status_code)
        assert_clean(r)
