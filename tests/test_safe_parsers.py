"""No request reaches a parser that it could crash: deep nesting, long chains, entity
bombs; codepoint escapes handed over so that the engine reads what was decided."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pyoxigraph as ox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph.config import Settings
from kgraph.rdf import parse_rdf
from kgraph.rdfguard import MAX_JSON_DEPTH, MAX_RDF_DEPTH, MAX_XML_DEPTH, check_rdf
from kgraph.sparql.guard import (
    MAX_CHAIN,
    MAX_DEPTH,
    MAX_SEQUENCE,
    MAX_UNARY_RUN,
    AmbiguousEscapeError,
    QueryTooDeepError,
    engine_safe,
    expand_codepoints,
    nesting,
    prepare,
)
from kgraph.store import RdfSyntaxError, open_store
from kgraph.web import create_app

from .support import TOKEN, auth

SETTINGS = Settings(store_path=None, bootstrap=False, allow_update=True, token=TOKEN)
W = "SELECT * WHERE "
P = "<http://e/p>"


def deep_queries(n: int) -> dict[str, str]:
    """Every construct the engine's parser recurses on, ``n`` levels deep."""
    return {
        "groups": W + "{" * n + "}" * n,
        "parentheses": W + "{ FILTER(" + "(" * n + "1" + ")" * n + ") }",
        "blank node lists": W + "{ ?s ?p " + f"[ {P} " * n + "1" + " ]" * n + " }",
        "collections": W + "{ ?s ?p " + "( " * n + "1" + " )" * n + " }",
        "quoted triples": W + "{ " + "<< " * n + "?s ?p ?o" + " >> ?p ?o" * n + " }",
        "triple terms": W + "{ ?s ?p " + "<<( ?s ?p " * n + "?o" + " )>>" * n + " }",
        "paths": W + "{ ?s " + "(" * n + P + ")" * n + " ?o }",
        "inverse paths": W + "{ ?s " + "^(" * n + P + ")" * n + " ?o }",
        "not": W + "{ FILTER(" + "!" * n + "true) }",
        "minus signs": W + "{ BIND(" + "- " * n + "1 AS ?x) }",
        "negated parentheses": W + "{ BIND(" + "-(" * n + "1" + ")" * n + " AS ?x) }",
        "subqueries": W + "{" + " { SELECT * WHERE {" * n + "}}" * n + "}",
        "not exists": W + "{" + " FILTER NOT EXISTS {" * n + "}" * n + "}",
        "function calls": W + "{ BIND(" + "STR(" * n + "1" + ")" * n + " AS ?x) }",
        "sums": W + "{ BIND(" + "1+" * n + "1 AS ?x) }",
        "disjunctions": W + "{ FILTER(" + "true||" * n + "true) }",
        "unions": W + "{ " + "{} UNION " * n + "{} }",
        "optionals": W + "{ " + "OPTIONAL {} " * n + "}",
        "filters": W + "{ " + "FILTER(true) " * n + "}",
        "alternative paths": W + "{ ?s " + f"{P}|" * n + f"{P} ?o }}",
        "sequence paths": W + "{ ?s " + f"{P}/" * n + f"{P} ?o }}",
    }


def deep_updates(n: int) -> dict[str, str]:
    return {
        "insert data": "INSERT DATA { <http://s> <http://p> " + f"[ {P} " * n + "1" + " ]" * n
                       + " }",
        "where groups": "INSERT { <http://s> <http://p> 1 } WHERE " + "{" * n + "}" * n,
        "delete insert": "DELETE { ?s ?p ?o } INSERT { ?s ?p " + "( " * n + "?o" + " )" * n
                         + " } WHERE { ?s ?p ?o }",
    }


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    return create_app(SETTINGS, open_store(None)).test_client()


@pytest.mark.parametrize("kind", sorted(deep_queries(1)))
def test_deep_queries_are_refused_fast(client, kind: str) -> None:  # type: ignore[no-untyped-def]
    query = deep_queries(30_000)[kind]  # 30,000 levels: still under the 1 MiB query cap
    start = time.monotonic()
    r = client.post("/sparql", data=query.encode(), content_type="application/sparql-query")
    assert r.status_code == 400, (kind, r.status_code, r.data[:200])
    assert time.monotonic() - start < 1.0
    assert b"Traceback" not in r.data


@pytest.mark.parametrize("kind", sorted(set(deep_queries(1)) - {"minus signs"}))  # - - 1: invalid
def test_moderate_nesting_still_runs(client, kind: str) -> None:  # type: ignore[no-untyped-def]
    depth = 12 if kind in ("collections", "quoted triples", "sequence paths") else 30
    r = client.post("/sparql", data=deep_queries(depth)[kind].encode(),
                    content_type="application/sparql-query")
    assert r.status_code == 200, (kind, r.status_code, r.data[:300])


@pytest.mark.parametrize("kind", sorted(deep_updates(1)))
def test_deep_updates_are_refused_fast(client, kind: str) -> None:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    r = client.post("/sparql", data={"update": deep_updates(50_000)[kind]}, headers=auth())
    assert r.status_code == 400, (kind, r.status_code, r.data[:200])
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("kind", sorted(deep_updates(1)))
def test_moderate_updates_still_run(client, kind: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/sparql", data={"update": deep_updates(20)[kind]}, headers=auth())
    assert r.status_code == 204, (kind, r.status_code, r.data[:300])


def test_the_limits_are_exact() -> None:
    assert nesting("ASK " + "{" * MAX_DEPTH + "}" * MAX_DEPTH).depth == MAX_DEPTH
    with pytest.raises(QueryTooDeepError):
        prepare("ASK " + "{" * (MAX_DEPTH + 1) + "}" * (MAX_DEPTH + 1), SETTINGS, update=False)
    prepare("ASK { FILTER(" + "!" * MAX_UNARY_RUN + "true) }", SETTINGS, update=False)
    with pytest.raises(QueryTooDeepError):
        prepare("ASK { FILTER(" + "!" * (MAX_UNARY_RUN + 1) + "true) }", SETTINGS, update=False)
    prepare("ASK { ?s " + f"{P}/" * MAX_SEQUENCE + f"{P} ?o }}", SETTINGS, update=False)
    with pytest.raises(QueryTooDeepError):
        prepare("ASK { ?s " + f"{P}/" * (MAX_SEQUENCE + 1) + f"{P} ?o }}", SETTINGS, update=False)
    prepare("ASK { " + "{} UNION " * MAX_CHAIN + "{} }", SETTINGS, update=False)
    with pytest.raises(QueryTooDeepError):
        prepare("ASK { " + "{} UNION " * (MAX_CHAIN + 1) + "{} }", SETTINGS, update=False)


@pytest.mark.parametrize("text", [
    # brackets inside strings, IRIs and comments are not nesting
    'ASK { ?s ?p "' + "(" * 500 + '" }',
    "ASK { ?s ?p '''" + "[" * 500 + "''' }",
    "ASK { ?s ?p ?o } # " + "{" * 500,
    "ASK { VALUES ?s { " + "<http://en.wikipedia.org/wiki/A_(b)> " * 300 + "} }",
    # lots of brackets, none deep
    "ASK { " + "{ ?s ?p ( 1 2 [ <http://e/p> 3 ] ) } " * 300 + "}",
    # many IRIs with slashes and pnames with dashes are not operators
    "PREFIX ex: <http://e/> ASK { VALUES ?x { " + " ".join(
        f"<http://example.org/a/b/c/{i}> ex:item-{i}-x" for i in range(400)) + " } }",
])
def test_what_is_not_nesting_is_not_counted(text: str) -> None:
    prepare(text, SETTINGS, update=False)


def test_closers_hidden_in_strings_do_not_hide_openers() -> None:
    fake = "(" * 40 + ' "' + ")" * 40 + '" ' + "(" * 40
    assert nesting("ASK { FILTER(" + fake + ") }").depth > MAX_DEPTH
    iri_like = "ASK { FILTER(?a <" + ")" * 60 + "> " + "(" * 70 + "1" + ")" * 70 + ") }"
    assert nesting(iri_like).depth > MAX_DEPTH


PIECES = list('([{)]}<>"\'#\n \\ax:?1.') + ['"""', "\'\'\'", "<<", ">>", "<http://e/(a)>",
                                                ":\\)", "\\\\", "ex:a\\'", ":\\(", "<(#>"]


@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
@settings(max_examples=3000, deadline=None)
def test_the_pre_scan_never_counts_less_than_the_tokens(text: str) -> None:
    # Fake closers (in strings, comments, escapes, IRI-looking tokens) must not hide
    # openers: the linear scan is at least the depth the lexer's tokens show.
    from tests.test_guard_soundness import token_depth

    assert nesting(text, limit=0).depth >= token_depth(text)


# -- documents ------------------------------------------------------------------------------
def deep_documents(n: int) -> dict[str, tuple[bytes, str]]:
    s, p = b"<http://e/s>", b"<http://e/p>"
    rdf = b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:e="http://e/">'
    return {
        "turtle blank nodes": (s + b" " + p + b" " + b"[ <http://e/p> " * n + b"1" + b" ]" * n
                               + b" .", "text/turtle"),
        "turtle collections": (s + b" " + p + b" " + b"( " * n + b"1" + b" )" * n + b" .",
                               "text/turtle"),
        "turtle quoted triples": (b"<< " * n + s + b" " + p + b" <http://e/o>"
                                  + (b" >> " + p + b" <http://e/o>") * n + b" .", "text/turtle"),
        "turtle triple terms": (s + b" " + p + b" " + (b"<<( " + s + b" " + p + b" ") * n
                                + b"<http://e/o>" + b" )>>" * n + b" .", "text/turtle"),
        "trig": (b"{ " + s + b" " + p + b" " + b"[ <http://e/p> " * n + b"1" + b" ]" * n
                 + b" . }", "application/trig"),
        "n-triples triple terms": (s + b" " + p + b" " + (b"<<( " + s + b" " + p + b" ") * n
                                   + b"<http://e/o>" + b" )>>" * n + b" .\n",
                                   "application/n-triples"),
        "json-ld arrays": (b'{"@id": "http://e/s", "http://e/p": ' + b"[" * n + b'"x"' + b"]" * n
                           + b"}", "application/ld+json"),
        "json-ld objects": (b'{"@id": "http://e/s"' + b', "http://e/p": {"@id": "http://e/a"' * n
                            + b"}" * n + b"}", "application/ld+json"),
        "rdf/xml": (rdf + b"<rdf:Description><e:p>" * n + b"</e:p></rdf:Description>" * n
                    + b"</rdf:RDF>", "application/rdf+xml"),
    }


@pytest.mark.parametrize("kind", sorted(deep_documents(1)))
def test_deep_documents_are_refused_fast(client, kind: str) -> None:  # type: ignore[no-untyped-def]
    body, media = deep_documents(50_000)[kind]
    target = "/store" if media == "application/trig" else "/store?default"  # quads: whole store
    start = time.monotonic()
    r = client.put(target, data=body, headers={**auth(), "Content-Type": media})
    assert r.status_code == 400, (kind, r.status_code, r.data[:200])
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("kind", sorted(deep_documents(1)))
def test_moderately_deep_documents_load(kind: str) -> None:
    body, media = deep_documents(20)[kind]
    assert parse_rdf(body, media)


def test_document_limits() -> None:
    body, _ = deep_documents(MAX_RDF_DEPTH)["turtle blank nodes"]
    check_rdf(body, ox.RdfFormat.TURTLE)
    body, _ = deep_documents(MAX_RDF_DEPTH + 1)["turtle blank nodes"]
    with pytest.raises(RdfSyntaxError):
        check_rdf(body, ox.RdfFormat.TURTLE)
    ok = b'{"@id": "http://e/s", "http://e/p": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"1" + \
        b"]" * (MAX_JSON_DEPTH - 1) + b"}"
    check_rdf(ok, ox.RdfFormat.JSON_LD)
    with pytest.raises(RdfSyntaxError):
        check_rdf(ok.replace(b"[", b"[[", 1).replace(b"]", b"]]", 1), ox.RdfFormat.JSON_LD)
    body, _ = deep_documents(MAX_XML_DEPTH // 2 - 1)["rdf/xml"]
    check_rdf(body, ox.RdfFormat.RDF_XML)
    body, _ = deep_documents(MAX_XML_DEPTH // 2 + 1)["rdf/xml"]
    with pytest.raises(RdfSyntaxError):
        check_rdf(body, ox.RdfFormat.RDF_XML)


def test_a_deep_body_near_the_size_cap_is_refused_in_a_second(client) -> None:  # type: ignore[no-untyped-def]
    body = b"<http://e/s> <http://e/p> " + b"[" * (60 << 20) + b" ."
    start = time.monotonic()
    r = client.put("/store?default", data=body, headers={**auth(), "Content-Type": "text/turtle"})
    assert r.status_code == 400
    assert time.monotonic() - start < 1.5
    js = b'{"@id": "http://e/s", "http://e/p": ' + b"[" * (60 << 20)
    start = time.monotonic()
    r = client.put("/store?default", data=js,
                   headers={**auth(), "Content-Type": "application/ld+json"})
    assert r.status_code == 400
    assert time.monotonic() - start < 1.5


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:e="http://e/">
 <rdf:Description rdf:about="http://e/s"><e:p>&lol9;</e:p></rdf:Description>
</rdf:RDF>"""


def test_billion_laughs_is_refused_fast() -> None:
    client = create_app(SETTINGS, open_store(None)).test_client()
    start = time.monotonic()
    r = client.put("/store?default", data=BILLION_LAUGHS,
                   headers={**auth(), "Content-Type": "application/rdf+xml"})
    assert r.status_code == 400, r.data
    assert time.monotonic() - start < 1.0
    assert client.get("/sparql", query_string={"query": "ASK { ?s ?p ?o }"},
                      headers={"Accept": "application/sparql-results+json"}).json == {
        "head": {}, "boolean": False}


def test_an_internal_entity_of_any_size_is_refused() -> None:
    doc = BILLION_LAUGHS.split(b"<!DOCTYPE")[0] + b'<!DOCTYPE r [<!ENTITY e "x">]>' + \
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/>'
    with pytest.raises(RdfSyntaxError, match="entity"):
        check_rdf(doc, ox.RdfFormat.RDF_XML)


def test_plain_rdf_xml_and_json_ld_still_load() -> None:
    xml = (b'<?xml version="1.0"?><!DOCTYPE rdf:RDF>'
           b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:e="http://e/">'
           b'<rdf:Description rdf:about="http://e/s"><e:p>1</e:p></rdf:Description></rdf:RDF>')
    assert len(parse_rdf(xml, "application/rdf+xml")) == 1
    doc = {"@context": {"p": {"@id": "http://e/p"}}, "@id": "http://e/s", "p": "x"}
    assert len(parse_rdf(json.dumps(doc).encode(), "application/ld+json")) == 1


# -- codepoint escapes ----------------------------------------------------------------------
ENGINE = ox.Store()


def answers(query: str) -> list[list[str]]:
    return [[str(t) for t in row] for row in ENGINE.query(query)]  # type: ignore[union-attr]


@pytest.mark.parametrize("query", [
    r'SELECT ("\u0061" AS ?x) {}',
    r'SELECT ("\U0001F600 \u00e9" AS ?x) {}',
    r'SELECT (<http://e/\u0061> AS ?x) {}',
    r'SELECT ("\u005Cu0061" AS ?x) {}',
    r'SELECT ("a\u005CU00000062" AS ?x) {}',
])
def test_the_engine_reads_the_handed_text_as_the_original(query: str) -> None:
    # pyoxigraph expands escapes in strings and IRIs only; there both readings agree.
    assert answers(prepare(query, SETTINGS, update=False)) == answers(query)


@pytest.mark.parametrize("query", [r'SELECT ("\u0022" AS ?x) {}', r"SELECT ('\u0027' AS ?x) {}"])
def test_an_escaped_quote_closes_the_string_as_the_standard_says(query: str) -> None:
    # pyoxigraph alone would read one quote character; SPARQL 1.1 §19.2 (and rdflib) read
    # the expanded text, where it ends the string: the engine gets that reading, and
    # refuses it, instead of a text whose SERVICE clauses were decided differently.
    handed = prepare(query, SETTINGS, update=False)
    assert handed == expand_codepoints(query)
    with pytest.raises(SyntaxError):
        answers(handed)


def test_escapes_outside_strings_are_read_as_the_standard_says() -> None:
    # pyoxigraph would refuse these; after expansion they are what SPARQL 1.1 §19.2 means
    handed = prepare(r"\u0053ELECT (1 AS ?x) {} LIMIT \u0031", SETTINGS, update=False)
    assert handed == "SELECT (1 AS ?x) {} LIMIT 1"
    assert answers(handed) == [['"1"^^<http://www.w3.org/2001/XMLSchema#integer>']]


@pytest.mark.parametrize("query", [r'SELECT ("\u005C\u005Cu0061" AS ?x) {}', r'SELECT ("\uD800" AS ?x) {}',
                                   r'SELECT ("\U00110000" AS ?x) {}'])
def test_ambiguous_escapes_are_refused(query: str) -> None:
    with pytest.raises(AmbiguousEscapeError):
        prepare(query, SETTINGS, update=False)


@given(st.text(alphabet=st.sampled_from(list('\\uU0123456789abcdefABCDEF"x ')), max_size=40))
@settings(max_examples=300, deadline=None)
def test_one_more_expansion_changes_nothing(text: str) -> None:
    try:
        expanded = expand_codepoints(text)
        handed = engine_safe(expanded)
    except AmbiguousEscapeError:
        return
    assert expand_codepoints(handed) == expanded


# -- the crash the guard prevents ---------------------------------------------------------
CRASH = """
import sys, threading, pyoxigraph
threading.stack_size(1 << 20)
t = threading.Thread(target=lambda: pyoxigraph.Store().query(sys.argv[1]))
t.start(); t.join()
print("alive")
"""


@pytest.mark.slow
def test_the_limit_is_well_below_the_crash_depth() -> None:
    # On a 1 MiB thread stack the engine dies at ~104 nested NOT EXISTS and ~272 groups;
    # MAX_DEPTH of them parse fine there, and the crash is real beyond.
    for kind, crash in (("not exists", 400), ("groups", 1200)):
        ok = subprocess.run([sys.executable, "-c", CRASH, deep_queries(MAX_DEPTH)[kind]],
                            capture_output=True, text=True, timeout=120)
        assert ok.returncode == 0 and "alive" in ok.stdout, (kind, ok.stderr[-300:])
        dead = subprocess.run([sys.executable, "-c", CRASH, deep_queries(crash)[kind]],
                              capture_output=True, text=True, timeout=120)
        assert dead.returncode < 0, (kind, dead.returncode)  # killed by a signal
