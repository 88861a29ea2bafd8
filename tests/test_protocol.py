"""The SPARQL 1.1 Protocol and Graph Store Protocol, through the Flask app in process."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from pyoxigraph import RdfFormat, parse

from kgraph.namespaces import GRAPH_INFERRED

from .support import auth

G1 = "http://example.org/g1"
G2 = "http://example.org/g2"
DATA = f"""
PREFIX ex: <http://example.org/>
INSERT DATA {{
  GRAPH <{G1}> {{ ex:a ex:p "one"@en , 1 . ex:a ex:q ex:b . }}
  GRAPH <{G2}> {{ ex:b ex:p "two" . }}
  GRAPH <{GRAPH_INFERRED}> {{ ex:a ex:inferred true . }}
}}
"""
SRX = "{http://www.w3.org/2005/sparql-results#}"


@pytest.fixture
def loaded(client):  # type: ignore[no-untyped-def]
    r = client.post("/sparql", data={"update": DATA}, headers=auth())
    assert r.status_code == 204, r.data
    return client


def select(client, query, accept="application/sparql-results+json", **params):  # type: ignore[no-untyped-def]
    return client.get("/sparql", query_string={"query": query, **params}, headers={"Accept": accept})


# -- queries --------------------------------------------------------------------
def test_union_default_graph_sees_every_graph(loaded) -> None:
    r = select(loaded, "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }")
    assert r.status_code == 200
    assert r.json["results"]["bindings"][0]["n"]["value"] == "5"


def test_from_clause_is_honoured_despite_union_default(loaded) -> None:
    r = select(loaded, f"SELECT ?o FROM <{G2}> {{ ?s ?p ?o }}")
    assert [b["o"]["value"] for b in r.json["results"]["bindings"]] == ["two"]


def test_protocol_dataset_parameters(loaded) -> None:
    r = select(loaded, "SELECT ?o { ?s <http://example.org/p> ?o }", **{"default-graph-uri": G2})
    assert [b["o"]["value"] for b in r.json["results"]["bindings"]] == ["two"]
    # named-graph-uri alone: the default graph is empty, GRAPH sees only the named one
    r = select(loaded, "SELECT ?g (COUNT(*) AS ?n) { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } } GROUP BY ?g",
               **{"named-graph-uri": G1})
    rows = {b.get("g", {}).get("value"): b["n"]["value"] for b in r.json["results"]["bindings"]}
    assert rows == {G1: "3"}


def test_inference_false_hides_the_inferred_graph(loaded) -> None:
    q = "ASK { ?s <http://example.org/inferred> true }"
    assert select(loaded, q).json["boolean"] is True
    assert select(loaded, q, inference="false").json["boolean"] is False
    assert select(loaded, "ASK { ?s ?p 'two' }", inference="false").json["boolean"] is True
    assert select(loaded, q, inference="maybe").status_code == 400


@pytest.mark.parametrize("method", ["get", "form", "direct"])
def test_three_ways_to_send_a_query(loaded, method: str) -> None:
    q = "SELECT ?o { ?s <http://example.org/p> ?o } ORDER BY ?o"
    h = {"Accept": "application/sparql-results+json"}
    if method == "get":
        r = loaded.get("/sparql", query_string={"query": q}, headers=h)
    elif method == "form":
        r = loaded.post("/sparql", data={"query": q}, headers=h)
    else:
        r = loaded.post("/sparql", data=q.encode(), content_type="application/sparql-query", headers=h)
    assert r.status_code == 200
    assert [b["o"]["value"] for b in r.json["results"]["bindings"]] == ["1", "one", "two"]


def test_select_in_every_result_format(loaded) -> None:
    q = "SELECT ?s ?o { ?s <http://example.org/p> ?o } ORDER BY ?o"
    j = select(loaded, q).json
    assert j["head"]["vars"] == ["s", "o"]
    assert j["results"]["bindings"][0]["o"] == {
        "type": "literal", "value": "1", "datatype": "http://www.w3.org/2001/XMLSchema#integer"}
    assert j["results"]["bindings"][1]["o"] == {"type": "literal", "value": "one", "xml:lang": "en"}

    x = select(loaded, q, "application/sparql-results+xml")
    assert x.mimetype == "application/sparql-results+xml"
    root = ET.fromstring(x.data)
    assert [v.get("name") for v in root.iter(SRX + "variable")] == ["s", "o"]
    assert len(list(root.iter(SRX + "result"))) == 3

    c = select(loaded, q, "text/csv")
    assert c.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(c.data.decode())))
    assert rows[0] == ["s", "o"] and rows[1] == ["http://example.org/a", "1"]
    assert c.data.endswith(b"\r\n")

    t = select(loaded, q, "text/tab-separated-values")
    lines = t.data.decode().splitlines()
    assert lines[0] == "?s\t?o"
    assert lines[2] == '<http://example.org/a>\t"one"@en'


def test_ask_results(loaded) -> None:
    assert select(loaded, "ASK { ?s ?p 'two' }").json == {"head": {}, "boolean": True}
    x = select(loaded, "ASK { ?s ?p 'three' }", "application/sparql-results+xml")
    assert ET.fromstring(x.data).find(SRX + "boolean").text == "false"


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [("text/turtle", RdfFormat.TURTLE), ("application/n-triples", RdfFormat.N_TRIPLES),
     ("application/rdf+xml", RdfFormat.RDF_XML), ("application/ld+json", RdfFormat.JSON_LD)],
)
def test_construct_in_every_rdf_format(loaded, accept: str, fmt: RdfFormat) -> None:
    r = select(loaded, f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{G1}> {{ ?s ?p ?o }} }}", accept)
    assert r.status_code == 200 and r.mimetype == accept
    triples = list(parse(r.data, format=fmt))
    assert len(triples) == 3


def test_turtle_uses_the_querys_prefixes_and_only_those_it_needs(loaded) -> None:
    q = ("PREFIX ex: <http://example.org/> PREFIX unused: <http://unused.example/> "
         f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{G1}> {{ ?s ?p ?o }} }}")
    text = select(loaded, q, "text/turtle").get_data(as_text=True)
    assert "@prefix ex: <http://example.org/> ." in text and "ex:" in text.split(" .\n", 1)[1]
    assert "unused" not in text and "kgo:" not in text
    triples = list(parse(text.encode(), format=RdfFormat.TURTLE))
    assert len(triples) == 3


def test_small_answers_have_a_length_large_ones_stream(loaded) -> None:
    small = select(loaded, "SELECT * { ?s ?p ?o }", "text/csv")
    assert int(small.headers["Content-Length"]) == len(small.data)
    many = "SELECT ?i { VALUES ?i { " + " ".join(str(i) for i in range(20000)) + " } }"
    large = loaded.post("/sparql", data={"query": many}, headers={"Accept": "text/csv"})
    assert "Content-Length" not in large.headers
    assert large.get_data(as_text=True).splitlines() == ["i", *map(str, range(20000))]


def test_describe(loaded) -> None:
    r = select(loaded, "DESCRIBE <http://example.org/b>", "application/n-triples")
    assert b'"two"' in r.data


def test_accept_q_values_and_format_override(loaded) -> None:
    q = "SELECT * { ?s ?p ?o }"
    r = select(loaded, q, "text/csv;q=0.4, application/sparql-results+xml;q=0.9, */*;q=0.1")
    assert r.mimetype == "application/sparql-results+xml"
    r = select(loaded, q, "text/csv;q=0.4, text/tab-separated-values;q=0")
    assert r.mimetype == "text/csv"
    r = select(loaded, q, "application/sparql-results+xml", format="tsv")
    assert r.mimetype == "text/tab-separated-values"
    r = select(loaded, q, "*/*")
    assert r.mimetype == "application/sparql-results+json"
    r = select(loaded, q, "application/json")
    assert r.mimetype == "application/json" and "results" in r.json


def test_not_acceptable(loaded) -> None:
    assert select(loaded, "SELECT * {}", "image/png").status_code == 406
    assert select(loaded, "CONSTRUCT WHERE { ?s ?p ?o }", "text/csv").status_code == 406
    assert select(loaded, "SELECT * {}", format="pdf").status_code == 406


def test_syntax_errors_are_400_with_position(client) -> None:
    r = select(client, "SELECT * WHERE { ?s ?p }")
    assert r.status_code == 400 and r.mimetype == "text/plain"
    assert b"1:" in r.data and b"Traceback" not in r.data
    r = client.post("/sparql", data={"update": "INSERT DATA { <http://a> <http://b> }"}, headers=auth())
    assert r.status_code == 400 and b"syntax" in r.data.lower()


def test_request_errors(client) -> None:
    assert client.put("/sparql").status_code == 405
    assert client.delete("/sparql").status_code == 405
    assert client.get("/sparql", query_string={"update": "CLEAR ALL"}).status_code == 405
    assert client.post("/sparql", data="x", content_type="text/plain").status_code == 415
    assert client.post("/sparql", data=b"x").status_code == 415
    r = client.get("/sparql?query=ASK{}&query=ASK{}")
    assert r.status_code == 400
    r = client.post("/sparql", data={"query": "ASK {}", "update": "CLEAR ALL"}, headers=auth())
    assert r.status_code == 400
    assert client.post("/sparql", data={"nothing": "1"}).status_code == 400
    r = select(client, "SELECT * {}", **{"default-graph-uri": "not an iri"})
    assert r.status_code == 400


def test_body_too_large_is_413(settings, tmp_path) -> None:
    from dataclasses import replace

    from kgraph.store import open_store
    from kgraph.web import create_app

    small = create_app(replace(settings, max_body_bytes=1000), open_store(None)).test_client()
    r = small.post("/sparql", data=("ASK {}" + " " * 2000).encode(), content_type="application/sparql-query")
    assert r.status_code == 413


# -- updates and authorisation -------------------------------------------------------
def test_update_needs_the_token(loaded) -> None:
    upd = {"update": "CLEAR ALL"}
    assert loaded.post("/sparql", data=upd).status_code == 401
    assert loaded.post("/sparql", data=upd, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert loaded.post("/sparql", data=upd, headers={"Authorization": "Basic x"}).status_code == 401
    assert select(loaded, "ASK { ?s ?p 'two' }").json["boolean"] is True  # nothing lost


def test_updates_disabled(settings) -> None:
    from dataclasses import replace

    from kgraph.store import open_store
    from kgraph.web import create_app

    client = create_app(replace(settings, allow_update=False), open_store(None)).test_client()
    r = client.post("/sparql", data={"update": "CLEAR ALL"}, headers=auth())
    assert r.status_code == 403


def test_update_by_direct_post_with_using_graph_uri(loaded) -> None:
    upd = "INSERT { GRAPH <http://example.org/out> { ?s <http://example.org/copied> ?o } } WHERE { ?s <http://example.org/p> ?o }"
    r = loaded.post("/sparql?using-graph-uri=" + G2, data=upd.encode(),
                    content_type="application/sparql-update", headers=auth())
    assert r.status_code == 204, r.data
    r = select(loaded, "SELECT ?o { GRAPH <http://example.org/out> { ?s ?p ?o } }")
    assert [b["o"]["value"] for b in r.json["results"]["bindings"]] == ["two"]


def test_using_graph_uri_conflicts_with_using_clause(loaded) -> None:
    upd = f"DELETE {{ ?s ?p ?o }} USING <{G1}> WHERE {{ ?s ?p ?o }}"
    r = loaded.post("/sparql", data={"update": upd, "using-graph-uri": G2}, headers=auth())
    assert r.status_code == 400
    assert select(loaded, "ASK { ?s ?p 'two' }").json["boolean"] is True


def test_failed_update_changes_nothing(loaded) -> None:
    before = loaded.get("/store", headers={"Accept": "application/n-quads"}).data
    bad = "INSERT DATA { GRAPH <http://example.org/x> { <http://a> <http://b> 1 } } ; LOAD <file:///nonexistent.ttl>"
    r = loaded.post("/sparql", data={"update": bad}, headers=auth())
    assert r.status_code == 400
    after = loaded.get("/store", headers={"Accept": "application/n-quads"}).data
    assert sorted(before.splitlines()) == sorted(after.splitlines())


# -- service description and form ----------------------------------------------------------
@pytest.mark.parametrize("accept,fmt", [("text/turtle", RdfFormat.TURTLE),
                                        ("application/rdf+xml", RdfFormat.RDF_XML),
                                        ("application/ld+json", RdfFormat.JSON_LD)])
def test_service_description(loaded, accept: str, fmt: RdfFormat) -> None:
    r = loaded.get("/sparql", headers={"Accept": accept})
    assert r.status_code == 200 and r.mimetype == accept
    triples = list(parse(r.data, format=fmt))
    sd = "http://www.w3.org/ns/sparql-service-description#"
    objects = {t.object.value for t in triples if hasattr(t.object, "value")}
    assert sd + "SPARQL11Query" in objects and sd + "SPARQL11Update" in objects
    assert sd + "UnionDefaultGraph" in objects
    assert G1 in objects and "http://localhost/sparql" in objects


def test_html_form_for_browsers(client) -> None:
    r = client.get("/sparql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert b"<form" in r.data and b'name="query"' in r.data


# -- graph store protocol -------------------------------------------------------------------
def test_graph_store_round_trip(loaded) -> None:
    h = auth()
    g = "http://example.org/gsp"
    r = loaded.put(f"/store?graph={g}", data=b"<http://x> <http://y> 1 .", content_type="text/turtle", headers=h)
    assert r.status_code == 201
    r = loaded.put(f"/store?graph={g}", data=b"<http://x> <http://y> 2 .", content_type="text/turtle", headers=h)
    assert r.status_code == 204
    r = loaded.post(f"/store?graph={g}", data=b'<http://x> <http://y> "3" .', content_type="application/n-triples", headers=h)
    assert r.status_code == 204
    r = loaded.get(f"/store?graph={g}", headers={"Accept": "application/n-triples"})
    assert sorted(r.data.decode().splitlines()) == [
        '<http://x> <http://y> "2"^^<http://www.w3.org/2001/XMLSchema#integer> .',
        '<http://x> <http://y> "3" .',
    ]
    assert loaded.head(f"/store?graph={g}").status_code == 200
    assert loaded.delete(f"/store?graph={g}", headers=h).status_code == 204
    assert loaded.get(f"/store?graph={g}").status_code == 404
    assert loaded.delete(f"/store?graph={g}", headers=h).status_code == 404


def test_graph_store_default_graph_and_new_graph(loaded) -> None:
    h = auth()
    r = loaded.put("/store?default", data=b"<http://d> <http://e> <http://f> .", content_type="text/turtle", headers=h)
    assert r.status_code == 204
    r = loaded.get("/store?default", headers={"Accept": "application/n-triples"})
    assert r.data.strip() == b"<http://d> <http://e> <http://f> ."
    r = loaded.post("/store", data=b"<http://n> <http://e> <http://f> .", content_type="text/turtle", headers=h)
    assert r.status_code == 201
    location = r.headers["Location"]
    assert loaded.get(location, headers={"Accept": "text/turtle"}).status_code == 200


def test_graph_store_rejects_bad_input_and_keeps_data(loaded) -> None:
    h = auth()
    r = loaded.put(f"/store?graph={G1}", data=b"<http://x> <http://y> .", content_type="text/turtle", headers=h)
    assert r.status_code == 400
    r = loaded.put(f"/store?graph={G1}", data=b"x", content_type="application/pdf", headers=h)
    assert r.status_code == 415
    r = loaded.put(f"/store?graph={G1}", data=b"<http://x> <http://y> 1 .", content_type="text/turtle")
    assert r.status_code == 401
    assert loaded.get(f"/store?graph={G1}&default").status_code == 400
    assert loaded.get("/store?graph=relative").status_code == 400
    r = loaded.get(f"/store?graph={G1}", headers={"Accept": "application/n-triples"})
    assert len(r.data.splitlines()) == 3  # untouched


def test_graph_store_whole_dataset(loaded) -> None:
    r = loaded.get("/store", headers={"Accept": "application/trig"})
    assert r.mimetype == "application/trig"
    quads = list(parse(r.data, format=RdfFormat.TRIG))
    assert len(quads) == 5


# -- named queries, health, CORS ------------------------------------------------------------------
def test_named_queries(loaded, settings) -> None:
    (settings.queries_dir / "labels.rq").write_text(
        "# Every literal object.\n# Second line.\nSELECT ?o { ?s <http://example.org/p> ?o } ORDER BY ?o\n")
    listing = loaded.get("/queries").json["queries"]
    assert [q["name"] for q in listing] == ["labels"]
    assert listing[0]["description"] == "Every literal object. Second line."
    r = loaded.get("/queries/labels", headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.data.decode().splitlines() == ["o", "1", "one", "two"]
    assert loaded.get("/queries/nope").status_code == 404
    assert loaded.get("/queries/..%2Fsecret").status_code == 404


def test_health_and_cors(loaded) -> None:
    r = loaded.get("/health")
    assert r.status_code == 200 and r.json["status"] == "ok"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    r = loaded.open("/sparql", method="OPTIONS", headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]


def test_service_to_unlisted_endpoint_is_refused(client) -> None:
    r = select(client, "SELECT * { SERVICE <http://203.0.113.7/sparql> { ?s ?p ?o } }")
    assert r.status_code == 400 and b"not allowed" in r.data


def test_unicode_round_trip(client) -> None:
    upd = 'INSERT DATA { GRAPH <http://example.org/u> { <http://example.org/s> <http://example.org/p> "Kim Jong\u2011un \u2014 \u201cfriendship\u201d" } }'
    assert client.post("/sparql", data={"update": upd}, headers=auth()).status_code == 204
    r = select(client, "SELECT ?o { ?s <http://example.org/p> ?o }")
    assert json.loads(r.data)["results"]["bindings"][0]["o"]["value"] == "Kim Jong\u2011un \u2014 \u201cfriendship\u201d"


def test_deep_nesting_is_refused_not_fatal(client) -> None:
    deep = "ASK " + "{" * 3000 + "}" * 3000
    r = client.get("/sparql", query_string={"query": deep})
    assert r.status_code == 400 and b"nested" in r.data
    ok = "ASK " + "{" * 50 + "}" * 50
    assert client.get("/sparql", query_string={"query": ok}).status_code == 200


@pytest.mark.parametrize("update", [
    "DROP GRAPH <http://example.org/missing>",
    "CLEAR GRAPH <http://example.org/missing>",
    "CREATE GRAPH <http://example.org/g1>",
    "MOVE <http://example.org/missing> TO <http://example.org/other>",
])
def test_update_errors_are_400_and_change_nothing(loaded, update: str) -> None:
    before = sorted(loaded.get("/store", headers={"Accept": "application/n-quads"}).data.splitlines())
    r = loaded.post("/sparql", data={"update": update}, headers=auth())
    assert r.status_code == 400 and r.mimetype == "text/plain", r.data
    after = sorted(loaded.get("/store", headers={"Accept": "application/n-quads"}).data.splitlines())
    assert after == before


def test_invalid_utf8_in_parameters_is_400(client) -> None:
    r = client.get("/sparql?query=ASK%7B%7D%FF")
    assert r.status_code == 400 and b"UTF-8" in r.data
    r = client.post("/sparql", data=b"query=ASK%7B%7D%C3%28", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400
    r = client.post("/sparql", data=b"ASK {} # \xff", content_type="application/sparql-query")
    assert r.status_code == 400


def test_head_has_the_get_headers_without_a_body(loaded) -> None:
    get = select(loaded, "CONSTRUCT WHERE { ?s ?p ?o }", "text/turtle")
    head = loaded.head("/sparql", query_string={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                       headers={"Accept": "text/turtle"})
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert head.headers.get("Content-Length") == get.headers.get("Content-Length")


def test_allow_header_is_consistent(client) -> None:
    assert client.put("/sparql").headers["Allow"] == client.options("/sparql").headers["Allow"]


def test_rdfxml_format_name_used_by_sparqlwrapper(loaded) -> None:
    r = select(loaded, "CONSTRUCT WHERE { ?s ?p ?o }", "application/rdf+xml", format="rdf+xml")
    assert r.status_code == 200 and r.mimetype == "application/rdf+xml"


def test_snapshot_service_cannot_reach_other_graphs(loaded) -> None:
    q = "SELECT * { SERVICE <https://query.wikidata.org/sparql> { GRAPH ?g { ?s ?p ?o } } }"
    r = select(loaded, q)
    assert r.status_code == 400 and b"no named graphs" in r.data
    q = "SELECT * { SERVICE <https://query.wikidata.org/sparql> { ?s ?p ?o } }"
    assert select(loaded, q).json["results"]["bindings"] == []  # the snapshot graph is empty here


BIG = "http://example.org/big"


@pytest.fixture
def big(app):  # type: ignore[no-untyped-def]
    """15,000 subjects with two triples each, sharing 7 blank nodes: past one streaming batch."""
    lines = "".join(f'<http://example.org/s{i}> <http://example.org/p> _:b{i % 7} .\n'
                    f'<http://example.org/s{i}> <http://example.org/q> "v{i}" .\n'
                    for i in range(15000))
    app.extensions["kgraph"].store.load(lines.encode(), "application/n-triples", graph=BIG)
    return app.test_client()


@pytest.mark.parametrize(("accept", "fmt", "streamed"), [
    ("text/turtle", RdfFormat.TURTLE, True),
    ("application/n-triples", RdfFormat.N_TRIPLES, True),
    ("application/rdf+xml", RdfFormat.RDF_XML, False),
    ("application/ld+json", RdfFormat.JSON_LD, False),
])
def test_large_graph_answers_parse_back_whole(big, accept: str, fmt: RdfFormat,
                                              streamed: bool) -> None:  # type: ignore[no-untyped-def]
    q = f"PREFIX ex: <http://example.org/> CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{BIG}> {{ ?s ?p ?o }} }}"
    r = select(big, q, accept)
    assert r.status_code == 200
    assert ("Content-Length" not in r.headers) is streamed
    triples = list(parse(r.data, format=fmt))
    assert len(triples) == 30000
    # blank nodes keep one label across batches: still 7 of them
    assert len({t.object for t in triples if t.predicate.value.endswith("/p")}) == 7
    if fmt is RdfFormat.TURTLE:
        assert r.data.count(b"@prefix ex: <http://example.org/> .") == 1


def test_graph_store_streams_graphs_and_the_dataset(big) -> None:  # type: ignore[no-untyped-def]
    r = big.get("/store", query_string={"graph": BIG}, headers={"Accept": "text/turtle"})
    assert r.status_code == 200 and len(list(parse(r.data, format=RdfFormat.TURTLE))) == 30000
    for accept, fmt in [("application/trig", RdfFormat.TRIG), ("application/n-quads", RdfFormat.N_QUADS)]:
        r = big.get("/store", headers={"Accept": accept})
        quads = list(parse(r.data, format=fmt))
        assert len(quads) == 30000 and {q.graph_name.value for q in quads} == {BIG}
        assert len({q.object for q in quads if q.predicate.value.endswith("/p")}) == 7
