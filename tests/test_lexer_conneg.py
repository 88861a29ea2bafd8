"""The SPARQL tokenizer's rewrites and HTTP content negotiation, in isolation."""

from __future__ import annotations

import pytest

from kgraph.lexer import (
    DatasetConflictError,
    engine_text,
    has_dataset_clause,
    inject_using,
    service_refs,
    tokenize,
)
from kgraph.sparql.conneg import accepts_html, negotiate


@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT * FROM <http://g> { ?s ?p ?o }", True),
    ("SELECT * FROM NAMED <http://g> { GRAPH ?g { ?s ?p ?o } }", True),
    ("select * from <http://g> {}", True),
    ("SELECT ?from { ?s <http://ex/from> ?from }", False),
    ("SELECT * { ?s ex:from 'FROM <x>' } # FROM <http://g>", False),
    ('SELECT * { ?s ?p """ FROM\n<x> """ }', False),
])
def test_dataset_clause_detection(query: str, expected: bool) -> None:
    assert has_dataset_clause(query) is expected


def test_service_refs_resolve_prefixes_base_and_variables() -> None:
    q = """BASE <http://base.example/dir/>
    PREFIX wd: <https://query.wikidata.org/>
    SELECT * { SERVICE SILENT wd:sparql { ?a ?b ?c } SERVICE <rel> { } SERVICE ?ep { }
               ?s ?p "SERVICE <http://not-a-service>" }"""
    refs = service_refs(q)
    assert [(r.iri, r.variable, r.silent) for r in refs] == [
        ("https://query.wikidata.org/sparql", None, True),
        ("http://base.example/dir/rel", None, False),
        (None, "ep", False),
    ]
    assert q[refs[0].start:refs[0].end] == "wd:sparql"


def test_inject_using_adds_clauses_before_each_where() -> None:
    upd = ("PREFIX : <http://e/> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o } ; "
           "DELETE WHERE { ?a ?b ?c } ; INSERT { :x :y :z } WHERE { FILTER(?v = 'WHERE') }")
    out = inject_using(upd, ["http://g1"], ["http://g2"])
    assert out.count("USING <http://g1> USING NAMED <http://g2> WHERE") == 2
    assert "DELETE WHERE { ?a ?b ?c }" in out
    assert inject_using(upd, [], []) == upd


@pytest.mark.parametrize("upd", [
    "WITH <http://g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }",
    "DELETE { ?s ?p ?o } USING <http://g> WHERE { ?s ?p ?o }",
])
def test_inject_using_refuses_updates_with_their_own_dataset(upd: str) -> None:
    with pytest.raises(DatasetConflictError):
        inject_using(upd, ["http://other"], [])


def test_tokenizer_keeps_prefixed_names_and_strings_whole() -> None:
    texts = [t.text for t in tokenize(r"SELECT * { ?s ex:p\.q 'it\'s' ; ex:r 1.5e3 . }")]
    assert texts == ["SELECT", "*", "{", "?s", r"ex:p\.q", r"'it\'s'", ";", "ex:r", "1.5e3", ".", "}"]


OFFERED = ["application/sparql-results+json", "application/sparql-results+xml", "text/csv"]


@pytest.mark.parametrize(("accept", "expected"), [
    (None, OFFERED[0]),
    ("", OFFERED[0]),
    ("*/*", OFFERED[0]),
    ("text/*", "text/csv"),
    ("text/csv;q=0.5, application/sparql-results+xml", OFFERED[1]),
    ("application/*;q=0.2, text/csv;q=0.3", "text/csv"),
    ("application/sparql-results+json;q=0, */*;q=0.1", OFFERED[1]),
    ("image/png", None),
    ("text/csv;q=0", None),
    ("TEXT/CSV", "text/csv"),
])
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept, OFFERED) == expected


def test_accepts_html() -> None:
    assert accepts_html("text/html,application/xhtml+xml,*/*;q=0.8")
    assert not accepts_html("*/*")
    assert not accepts_html(None)
    assert not accepts_html("text/html;q=0")


@pytest.mark.parametrize("query", [
    "SELECT * { ?s <http://p> ?o }",
    "SELECT * { ?s ?p ?o FILTER(?o = <http://a>) }",
    "SELECT * { ?s ?p ?o FILTER(?o IN (<http://a>, <http://b>)) }",
    "SELECT * { ?s ?p (?x <http://a> 1) }",
    "SELECT * { VALUES (?x ?y) { (1 <http://a>) (\"s\" <http://b>) } }",
    "SELECT * { ?s (<http://a>|<http://b>)* ?o FILTER(?s != ?o) }",
    "SELECT * { ?s ?p ?o FILTER(EXISTS { ?o <http://q> ?z }) }",
    "SELECT * { ?s ?p ?o FILTER(?o < 3 && ?o > 1) }",
    "SELECT * { ?s ?p ?o } ORDER BY ?s <http://fn>(?o)",
    "SELECT * { ?s ?p ?o FILTER (\"1\"^^<http://www.w3.org/2001/XMLSchema#integer> = ?o) }",
])
def test_engine_text_leaves_valid_queries_alone(query: str) -> None:
    assert engine_text(query) == query


def test_engine_text_rejects_an_iri_misread_as_operators() -> None:
    with pytest.raises(ValueError, match=r"2:13: <\?a&&\?b> is an IRI"):
        engine_text("SELECT * WHERE\n{ FILTER (?x<?a&&?b>?y) }")


def test_engine_text_lowercases_boolean_keywords_only() -> None:
    q = "SELECT * { ?s ?p TRUE FILTER(?o = False) ?s ?p 'TRUE' . ?s ex:TRUE ?TRUE }"
    assert engine_text(q) == "SELECT * { ?s ?p true FILTER(?o = false) ?s ?p 'TRUE' . ?s ex:TRUE ?TRUE }"


def test_engine_text_makes_group_concat_a_simple_literal() -> None:
    q = ('SELECT (group_concat(DISTINCT ?o ; separator=")") AS ?c) (GROUP_CONCAT(STR(?s)) AS ?d) '
         '{ ?s ex:GROUP_CONCAT ?o . ?s ?p "GROUP_CONCAT(" } GROUP BY ?group_concat')
    assert engine_text(q) == (
        'SELECT (STR(group_concat(DISTINCT ?o ; separator=")")) AS ?c) (STR(GROUP_CONCAT(STR(?s))) AS ?d) '
        '{ ?s ex:GROUP_CONCAT ?o . ?s ?p "GROUP_CONCAT(" } GROUP BY ?group_concat')


def test_group_concat_of_one_language_is_a_simple_literal() -> None:
    from kgraph.store import open_store

    store = open_store(None)
    store.update('INSERT DATA { <http://a> <http://p> "x"@en, "y"@en }')
    ((concat,),) = list(store.query('SELECT (GROUP_CONCAT(?o) AS ?c) { ?s ?p ?o }').rows)
    assert concat.language is None and sorted(concat.value.split()) == ["x", "y"]
