"""The service-defined base IRI (SPARQL 1.1 Protocol) and the UTF-8 rule of direct POSTs.

Relative IRIs in a query or update resolve against the endpoint's URL (the request's
Host, or ``Settings.public_url``); the fast path computes the same base and the same
cache key as the Flask view, and a remote engine reads the same text. A direct POST
that declares a charset other than UTF-8 is refused with 415.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from kgraph.config import Settings
from kgraph.sparql.guard import with_base, without_base
from kgraph.store.base import SparqlSyntaxError
from kgraph.store.oxigraph import OxigraphStore
from kgraph.web import create_app

from .engines import (  # noqa: F401 - fixtures: engine, *_engine
    Engine,
    engine_fixture,
    oxigraph_engine_fixture,
    virtuoso_engine_fixture,
)
from .support import TOKEN
from .test_fastpath import Case, _both_ways

REL = "CONSTRUCT { <s> <p> 1 } WHERE {}"
NT = {"Accept": "application/n-triples"}
QTYPE = {"Content-Type": "application/sparql-query"}
UTYPE = {"Content-Type": "application/sparql-update"}
WRITE = {"Authorization": f"Bearer {TOKEN}"}
XSD_INT = "<http://www.w3.org/2001/XMLSchema#integer>"


def _triple(root: str) -> bytes:
    return f'<{root}/s> <{root}/p> "1"^^{XSD_INT} .\n'.encode()


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings, OxigraphStore(None))


def test_relative_iris_resolve_against_the_endpoint_url(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    for kwargs in ({"method": "GET", "query_string": {"query": REL}},
                   {"method": "POST", "headers": QTYPE, "data": REL},
                   {"method": "POST", "data": {"query": REL}}):
        r = client.open("/sparql", **{**kwargs, "headers": {**NT, **kwargs.get("headers", {})}})
        assert r.status_code == 200, r.data
        assert r.data == _triple("http://localhost")
    # the base follows the Host the request was sent to
    r = client.get("/sparql", query_string={"query": REL}, headers={**NT, "Host": "h.test:8080"})
    assert r.data == _triple("http://h.test:8080")


def test_the_query_s_own_base_wins_and_a_relative_one_reads_against_the_service(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    own = client.get("/sparql", query_string={"query": "BASE <http://other.test/> " + REL},
                     headers=NT)
    assert own.data == _triple("http://other.test")
    nested = client.get("/sparql", query_string={"query": "BASE <sub/> " + REL}, headers=NT)
    assert nested.data == _triple("http://localhost/sub")


def test_an_update_inserting_a_relative_iri_succeeds(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    r = client.post("/sparql", data="INSERT DATA { <test> <p> <o> }", headers={**UTYPE, **WRITE})
    assert r.status_code == 204, r.data
    r = client.get("/sparql", query_string={"query": "ASK { <http://localhost/test> ?p ?o }"})
    assert r.json["boolean"] is True


def test_a_configured_public_url_is_the_base_whatever_the_host(settings: Settings) -> None:
    app = create_app(replace(settings, public_url="https://kg.example.org/api/"),
                     OxigraphStore(None))
    r = app.test_client().get("/sparql", query_string={"query": REL},
                              headers={**NT, "Host": "internal:5000"})
    assert r.data == _triple("https://kg.example.org/api")


def test_an_answer_cached_for_one_base_is_not_served_for_another(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert app.extensions["kgraph"].cache.enabled
    first = client.get("/sparql", query_string={"query": REL}, headers={**NT, "Host": "a.test"})
    again = client.get("/sparql", query_string={"query": REL}, headers={**NT, "Host": "a.test"})
    other = client.get("/sparql", query_string={"query": REL}, headers={**NT, "Host": "b.test"})
    assert first.data == again.data == _triple("http://a.test")
    assert other.data == _triple("http://b.test")
    assert first.headers["ETag"] == again.headers["ETag"] != other.headers["ETag"]


def test_syntax_errors_name_positions_in_the_client_s_text(app) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    r = client.post("/sparql", data="SELECT * {\n  ?s ?p }", headers=QTYPE)
    assert r.status_code == 400 and b"error at 2:" in r.data, r.data
    r = client.post("/sparql", data="INSERT DATA {\n <a> <b> }", headers={**UTYPE, **WRITE})
    assert r.status_code == 400 and b"error at 2:" in r.data, r.data


def test_a_host_that_makes_no_iri_leaves_relative_iris_unresolved(app) -> None:  # type: ignore[no-untyped-def]
    r = app.test_client().get("/sparql", query_string={"query": REL},
                              headers={**NT, "Host": "bad>host"})
    assert r.status_code == 400 and b"Traceback" not in r.data


def test_a_relative_service_iri_is_decided_on_its_resolved_form(app) -> None:  # type: ignore[no-untyped-def]
    r = app.test_client().get("/sparql", query_string={"query": "SELECT * { SERVICE <x> {} }"})
    assert r.status_code == 400
    assert b"http://localhost/x" in r.data, r.data


def test_with_base_writes_one_line_and_refuses_what_is_not_an_absolute_iri() -> None:
    assert with_base("ASK {}", None) == "ASK {}"
    assert with_base("ASK {}", "http://h/sparql") == "BASE <http://h/sparql>\nASK {}"
    for bad in ("relative", "http://h/> SELECT", "http://h/a b", ""):
        with pytest.raises(SparqlSyntaxError):
            with_base("ASK {}", bad)
    moved = without_base(SparqlSyntaxError("error at 3:7: expected }"))
    assert str(moved) == "error at 2:7: expected }"
    assert str(without_base(SparqlSyntaxError("no position"))) == "no position"


BASE_CASES: list[Case] = [
    ("get-relative", "GET", {"query": REL}, NT, None),
    ("get-relative-host", "GET", {"query": REL}, {**NT, "Host": "h.test:81"}, None),
    ("post-relative", "POST", {}, {**QTYPE, **NT}, REL.encode()),
    ("form-relative", "POST", {}, {"Content-Type": "application/x-www-form-urlencoded", **NT},
     b"query=" + REL.replace(" ", "+").replace("{", "%7B").replace("}", "%7D").encode()),
    ("syntax-line-2", "POST", {}, QTYPE, b"SELECT * {\n ?s ?p }"),
    ("utf16", "POST", {}, {"Content-Type": "application/sparql-query; charset=UTF-16"},
     "ASK {}".encode("utf-16")),
    ("latin1", "POST", {}, {"Content-Type": "application/sparql-query; charset=latin-1"},
     b"ASK {}"),
    ("utf8-alias", "POST", {}, {"Content-Type": "application/sparql-query; charset=utf8"},
     b"ASK {}"),
]


@pytest.mark.parametrize("case", BASE_CASES, ids=[c[0] for c in BASE_CASES])
def test_the_fast_path_reads_base_and_charset_as_the_view_does(app, case: Case) -> None:  # type: ignore[no-untyped-def]
    (fast, slow), _ = _both_ways(app, case)
    assert fast == slow
    expected = {"utf16": "415", "latin1": "415", "syntax-line-2": "400"}.get(case[0], "200")
    assert fast[0][0].startswith(expected), fast[0]


@pytest.mark.parametrize("charset", ["UTF-16", "utf-32", "iso-8859-1", "cp1252", "nope"])
@pytest.mark.parametrize("media", ["application/sparql-query", "application/sparql-update"])
def test_a_direct_post_in_another_charset_is_415(app, media: str, charset: str) -> None:  # type: ignore[no-untyped-def]
    body = "ASK {}" if media.endswith("query") else "INSERT DATA { <http://a> <http://b> 1 }"
    r = app.test_client().post("/sparql", data=body.encode("utf-16" if "16" in charset else "utf-8"),
                               headers={"Content-Type": f"{media}; charset={charset}", **WRITE})
    assert r.status_code == 415, (charset, r.data)
    assert app.extensions["kgraph"].store.count() == 0


@pytest.mark.parametrize("charset", ["UTF-8", "utf-8", "utf8", "us-ascii"])
def test_a_direct_post_in_utf8_is_read(app, charset: str) -> None:  # type: ignore[no-untyped-def]
    r = app.test_client().post("/sparql", data="INSERT DATA { <http://a> <http://b> 'é' }",
                               headers={"Content-Type": f"application/sparql-update; charset={charset}",
                                        **WRITE})
    assert r.status_code == (204 if "ascii" not in charset else 400), r.data


@pytest.mark.parametrize("engine", ["oxigraph", "virtuoso"], indirect=True)
def test_a_remote_engine_reads_the_same_base(engine: Engine, settings: Settings) -> None:
    store = engine.store()
    try:
        app = create_app(settings, store)
        client = app.test_client()
        r = client.post("/sparql", data="INSERT DATA { GRAPH <http://g.test/> { <test> <p> 1 } }",
                        headers={**UTYPE, **WRITE})
        assert r.status_code == 204, r.data
        r = client.post("/sparql", headers={**QTYPE, "Accept": "text/csv"},
                        data="SELECT ?s ?p { GRAPH <http://g.test/> { ?s ?p 1 } }")
        assert r.data.splitlines()[1:] == [b"http://localhost/test,http://localhost/p"], r.data
        r = client.post("/sparql", data=REL, headers={**QTYPE, **NT})
        assert r.status_code == 200 and b"<http://localhost/s> <http://localhost/p>" in r.data
    finally:
        store.close()


def test_update_base_uri_as_the_w3c_protocol_test_sends_it(app) -> None:  # type: ignore[no-untyped-def]
    """update_base_uri: the base holds for every operation of a request, not only the first.
    (The graph exists first: Oxigraph records graphs, and CLEAR of one it does not have fails
    without SILENT, which SPARQL 1.1 Update allows a store that records graphs.)"""
    client = app.test_client()
    app.extensions["kgraph"].store.update(
        "INSERT DATA { GRAPH <http://example.org/protocol-base-test/> { <urn:x> <urn:y> 1 } }")
    r = client.post("/sparql", headers={**UTYPE, **WRITE, "Host": "www.example"}, data=(
        "CLEAR GRAPH <http://example.org/protocol-base-test/> ;\n"
        "INSERT DATA { GRAPH <http://example.org/protocol-base-test/> "
        "{ <http://example.org/s> <http://example.org/p> <test> } }"))
    assert r.status_code == 204, r.data
    r = client.post("/sparql", headers={**QTYPE, "Accept": "application/sparql-results+json"},
                    data="SELECT ?o WHERE { GRAPH <http://example.org/protocol-base-test/> "
                         "{ <http://example.org/s> <http://example.org/p> ?o } }")
    rows = r.json["results"]["bindings"]
    assert rows == [{"o": {"type": "uri", "value": "http://www.example/test"}}]


def test_kgraph_public_url_is_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KGRAPH_PUBLIC_URL", "https://kg.example.org/api/")
    assert Settings.from_env().public_url == "https://kg.example.org/api"
    for bad in ("kg.example.org", "ftp://kg.example.org/", "https://kg.example.org/?x=1",
                "https://kg.example.org/a b"):
        monkeypatch.setenv("KGRAPH_PUBLIC_URL", bad)
        with pytest.raises(ValueError, match="KGRAPH_PUBLIC_URL"):
            Settings.from_env()
    monkeypatch.setenv("KGRAPH_PUBLIC_URL", "")
    assert Settings.from_env().public_url is None
