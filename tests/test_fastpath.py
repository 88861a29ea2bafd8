"""The WSGI fast path answers every plain query exactly like the Flask view.

Each request of a battery (good queries of all four forms in every format, and bad
ones of every kind) is sent with the fast path on and with it off, over one app and
one store, from an empty cache (a miss) and then again (a hit); status, headers
(except X-Request-Id) and body must be the same both ways.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from kgraph.config import Settings
from kgraph.store.base import QueryTimeoutError
from kgraph.store.oxigraph import OxigraphStore
from kgraph.web import create_app

from .test_cache import SerializingStore

EX = "http://example.org/"
SEL = f"SELECT ?o {{ <{EX}s> <{EX}p> ?o }} ORDER BY ?o"
ASK = f"ASK {{ <{EX}s> ?p ?o }}"
CON = "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"
DES = f"DESCRIBE <{EX}s>"
_N = " ".join(map(str, range(30)))
BIG = f"SELECT * {{ VALUES ?a {{ {_N} }} VALUES ?b {{ {_N} }} VALUES ?c {{ {_N} }} }}"
JSON = {"Accept": "application/sparql-results+json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
QTYPE = {"Content-Type": "application/sparql-query"}

#: (name, method, query string or params, headers, body)
Case = tuple[str, str, Any, dict[str, str], bytes | None]

GOOD: list[Case] = [
    *[(f"select-{a}", "GET", {"query": SEL}, {"Accept": a}, None) for a in (
        "application/sparql-results+json", "application/sparql-results+xml", "text/csv",
        "text/tab-separated-values", "application/json", "*/*")],
    *[(f"select-format-{f}", "GET", {"query": SEL, "format": f}, {}, None)
      for f in ("json", "xml", "csv", "tsv")],
    *[(f"ask-{a}", "GET", {"query": ASK}, {"Accept": a}, None) for a in (
        "application/sparql-results+json", "application/sparql-results+xml")],
    *[(f"construct-{a}", "GET", {"query": CON}, {"Accept": a}, None) for a in (
        "text/turtle", "application/n-triples", "application/rdf+xml", "application/ld+json",
        "*/*")],
    ("describe", "GET", {"query": DES}, {"Accept": "text/turtle"}, None),
    ("no-accept", "GET", {"query": SEL}, {}, None),
    ("head", "HEAD", {"query": SEL}, JSON, None),
    ("streamed", "GET", {"query": BIG}, {"Accept": "text/csv"}, None),
    ("streamed-head", "HEAD", {"query": BIG}, {"Accept": "text/csv"}, None),
    ("dataset", "GET", {"query": SEL, "default-graph-uri": EX + "g"}, JSON, None),
    ("named", "GET", {"query": "SELECT ?g { GRAPH ?g { ?s ?p ?o } }",
                      "named-graph-uri": EX + "g"}, JSON, None),
    ("no-inference", "GET", {"query": SEL, "inference": "false"}, JSON, None),
    ("request-id", "GET", {"query": SEL}, {**JSON, "X-Request-Id": "abc-123"}, None),
    ("post-form", "POST", {}, {**FORM, **JSON}, b"query=" + SEL.replace(" ", "+").encode()),
    ("post-form-format", "POST", {}, FORM, b"format=csv&query=" + SEL.replace(" ", "+").encode()),
    ("post-form-dataset", "POST", {}, {**FORM, **JSON},
     b"query=" + SEL.replace(" ", "+").encode() + b"&default-graph-uri=" + EX.encode() + b"g"),
    ("post-form-inference-qs", "POST", {"inference": "false"}, {**FORM, **JSON},
     b"query=" + SEL.replace(" ", "+").encode()),
    ("post-query", "POST", {}, {**QTYPE, **JSON}, SEL.encode()),
    ("post-query-charset", "POST", {}, {"Content-Type": "application/sparql-query; charset=UTF-8",
                                        **JSON}, SEL.encode()),
    ("post-query-dataset", "POST", {"default-graph-uri": EX + "g"}, {**QTYPE, **JSON},
     SEL.encode()),
    ("post-construct", "POST", {}, {**QTYPE, "Accept": "text/turtle"}, CON.encode()),
]

BAD: list[Case] = [
    ("syntax", "GET", {"query": "SELECT WHERE {"}, JSON, None),
    ("406", "GET", {"query": SEL}, {"Accept": "image/png"}, None),
    ("406-html", "GET", {"query": SEL}, {"Accept": "text/html"}, None),
    ("406-kind", "GET", {"query": CON}, JSON, None),
    ("406-format", "GET", {"query": SEL, "format": "nope"}, {}, None),
    ("413-query", "GET", {"query": SEL + " " * 5000}, JSON, None),
    ("413-post", "POST", {}, {**QTYPE, **JSON}, SEL.encode() + b" " * 5000),
    ("415", "POST", {}, {"Content-Type": "text/plain"}, SEL.encode()),
    ("415-none", "POST", {}, {}, SEL.encode()),
    ("duplicate", "GET", "query=ASK%7B%7D&query=ASK%7B%7D", JSON, None),
    ("duplicate-form", "POST", {}, FORM, b"query=ASK%7B%7D&query=ASK%7B%7D"),
    ("query-and-update", "POST", {}, FORM, b"query=ASK%7B%7D&update=CLEAR+ALL"),
    ("utf8", "GET", "query=ASK%7B%7D%FF", JSON, None),
    ("utf8-form", "POST", {}, FORM, b"query=ASK%7B%7D%FF"),
    ("utf8-body", "POST", {}, QTYPE, b"ASK {} # \xff"),
    ("bad-charset", "POST", {}, {"Content-Type": "application/sparql-query; charset=nope"},
     b"ASK {}"),
    ("relative-iri", "GET", {"query": SEL, "default-graph-uri": "rel"}, JSON, None),
    ("inference-maybe", "GET", {"query": SEL, "inference": "maybe"}, JSON, None),
    ("update-by-get", "GET", {"update": "CLEAR ALL"}, JSON, None),
    ("update-by-get-with-query", "GET", {"query": SEL, "update": "CLEAR ALL"}, JSON, None),
    ("timeout", "GET", {"query": "ASK { ?s ?p 'TIMEOUT' }"}, JSON, None),
    ("timeout-post", "POST", {}, QTYPE, b"ASK { ?s ?p 'TIMEOUT' }"),
    ("evaluation", "GET", {"query": "SELECT * { SERVICE <http://127.0.0.1:1/x> { ?s ?p ?o } }"},
     JSON, None),
    ("bad-length", "POST", {}, {**QTYPE, "Content-Length": "x"}, b"ASK {}"),
    ("options", "OPTIONS", {}, {}, None),
    ("put", "PUT", {"query": SEL}, {}, None),
]


@pytest.fixture
def app(settings: Settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    store = OxigraphStore(None)
    store.update(f'INSERT DATA {{ <{EX}s> <{EX}p> "one", "two" . '
                 f'GRAPH <{EX}g> {{ <{EX}s> <{EX}p> "three" }} }}')
    application = create_app(replace(settings, max_query_bytes=4096), store)
    kg = application.extensions["kgraph"]
    run = kg.endpoint.run

    def timing_out(text, dataset):  # type: ignore[no-untyped-def]
        if "TIMEOUT" in text:
            raise QueryTimeoutError("stopped after 0.01 s")
        return run(text, dataset)

    monkeypatch.setattr(kg.endpoint, "run", timing_out)
    return application


def _send(client, case: Case):  # type: ignore[no-untyped-def]
    _, method, qs, headers, body = case
    return client.open("/sparql", method=method, query_string=qs, headers=headers, data=body)


def _seen(r) -> tuple[str, list[tuple[str, str]], bytes]:  # type: ignore[no-untyped-def]
    headers = sorted((k, v) for k, v in r.headers.items() if k not in ("X-Request-Id", "Date"))
    return r.status, headers, r.get_data()


def _both_ways(app, case: Case):  # type: ignore[no-untyped-def]
    """``[(miss, hit) with the fast path, (miss, hit) without]``, and how often the Flask
    app was reached with the fast path on."""
    middleware = app.wsgi_app
    kg = app.extensions["kgraph"]
    inner = middleware.app
    reached: list[str] = []

    def counted(environ, start_response):  # type: ignore[no-untyped-def]
        reached.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    client = app.test_client()
    out = []
    for enabled in (True, False):
        middleware.enabled = enabled
        middleware.app = counted if enabled else inner
        kg.cache.clear()
        out.append((_seen(_send(client, case)), _seen(_send(client, case))))
    middleware.enabled = True
    middleware.app = inner
    return out, len(reached)


@pytest.mark.parametrize("case", GOOD, ids=[c[0] for c in GOOD])
def test_good_queries_answer_alike_without_flask(app, case: Case) -> None:
    (fast, slow), reached = _both_ways(app, case)
    assert fast == slow
    assert fast[0][0].startswith("200") and fast[1][0].startswith("200")
    assert reached == 0, "a plain query must not reach the Flask app"


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_requests_answer_alike(app, case: Case) -> None:
    (fast, slow), _ = _both_ways(app, case)
    assert fast == slow
    assert fast[0][0][:1] in ("2", "4", "5")
    assert b"Traceback" not in fast[0][2]


def test_statuses_of_bad_requests(app) -> None:
    client = app.test_client()
    expected = {"syntax": 400, "406": 406, "413-query": 413, "413-post": 413, "415": 415,
                "duplicate": 400, "duplicate-form": 400, "utf8": 400, "utf8-form": 400,
                "utf8-body": 400, "relative-iri": 400, "inference-maybe": 400,
                "update-by-get": 405, "timeout": 503, "timeout-post": 503}
    cases = {c[0]: c for c in BAD}
    for name, status in expected.items():
        assert _send(client, cases[name]).status_code == status, name


def test_conditional_requests_answer_alike(app) -> None:
    client = app.test_client()
    first = _send(client, GOOD[0])
    etag = first.headers["ETag"]
    for method, headers, body in (("GET", {}, None), ("HEAD", {}, None),
                                  ("POST", QTYPE, SEL.encode())):
        case: Case = ("cond", method, {"query": SEL} if method != "POST" else {},
                      {**headers, "Accept": GOOD[0][3]["Accept"], "If-None-Match": etag}, body)
        (fast, slow), _ = _both_ways(app, case)
        assert fast == slow
        assert fast[0][0].startswith("304" if method != "POST" else "412")


def test_store_busy_answers_alike(app) -> None:
    kg = app.extensions["kgraph"]
    from kgraph.web.limits import Gate

    kg.gate = Gate(1, 0, 0)
    held = kg.gate.enter()
    try:
        (fast, slow), _ = _both_ways(app, ("busy", "GET", {"query": ASK}, JSON, None))
    finally:
        held.release()
    assert fast == slow and fast[0][0].startswith("503")
    assert ("Retry-After", "1") in fast[0][1]
    # the slot held by a busy answer is freed: the next request gets one
    assert _send(app.test_client(), GOOD[0]).status_code == 200


def test_serializing_store_answers_alike(settings: Settings) -> None:
    store = SerializingStore()
    store.update(f'INSERT DATA {{ <{EX}s> <{EX}p> "one" }}')
    app = create_app(settings, store)
    for case in (GOOD[0], GOOD[2], ("c", "GET", {"query": CON}, {"Accept": "text/turtle"}, None),
                 ("406", "GET", {"query": CON}, {"Accept": "text/csv"}, None),
                 ("big", "GET", {"query": BIG}, {"Accept": "text/csv"}, None)):
        (fast, slow), _ = _both_ways(app, case)
        assert fast == slow, case[0]


def test_every_fast_request_logs_one_line_with_its_id(app, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    caplog.set_level(logging.INFO, logger="kgraph.http")
    for i, case in enumerate(GOOD + BAD[:6]):
        caplog.clear()
        _, method, qs, headers, body = case
        r = client.open("/sparql", method=method, query_string=qs, data=body,
                        headers={**headers, "X-Request-Id": f"t-{i}"})
        r.get_data()
        r.close()
        lines = [rec for rec in caplog.records if rec.name == "kgraph.http"
                 and getattr(rec, "request_id", None) == f"t-{i}"]
        assert len(lines) == 1, case[0]
        assert lines[0].status == r.status_code and lines[0].method == method  # type: ignore[attr-defined]


def test_slot_is_freed_after_a_streamed_answer(app) -> None:
    kg = app.extensions["kgraph"]
    client = app.test_client()
    for _ in range(kg.gate.slots + 2):
        kg.cache.clear()
        r = _send(client, GOOD[[c[0] for c in GOOD].index("streamed")])
        assert r.status_code == 200 and "Content-Length" not in r.headers
        assert len(r.get_data().splitlines()) == 1 + 30 ** 3
        r.close()
    slots = [kg.gate.enter() for _ in range(kg.gate.slots)]  # all free again
    for s in slots:
        s.release()


@pytest.mark.parametrize("raw", [
    "", "&", "query=", "query", "a=1&&b=2", "a==b", "q=%41%42%43", "q=%4", "q=%zz%41", "q=%%41",
    "q=%5Cu0041", "q=\\x41%41", "q=a+b%2Bc", "q=%C3%A9", "q=%C3", "q=%FF%FE", "q=%e2%82%ac+x",
    "%71uery=SELECT%20*%20%7B%3Fs%20%3Fp%20%3Fo%7D", "q=%41;b=%42", "q=%2541",
])
def test_pairs_read_as_parse_qsl(raw: str) -> None:
    """The fast path's decoding of a query string gives parse_qsl's pairs, or its error."""
    from urllib.parse import parse_qsl

    from kgraph.web.fastpath import _pairs

    def outcome(f: Any) -> Any:
        try:
            return f()
        except UnicodeDecodeError as exc:
            return (type(exc), str(exc))

    assert outcome(lambda: _pairs(raw)) == outcome(
        lambda: parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict"))
