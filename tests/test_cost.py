"""Cheap queries answered in the HTTP worker (kgraph.store.cost, PooledStore.local).

The classifier must refuse anything whose work it cannot bound from the parse and the
snapshot's counts (a hub constant, ``?s ?p ?o``, property paths, cross products, ...)
and accept the benchmark's cheap kinds; an answer given in the worker must be the one a
query process gives, byte for byte and header for header (ETag included); and a write
acknowledged before a query is seen by it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kgraph.config import Settings
from kgraph.store.cost import MAX_JOIN, CostModel, count_query
from kgraph.store.oxigraph import OxigraphStore
from kgraph.store.pool import PooledStore
from kgraph.store.snapshots import Publisher
from kgraph.web import create_app

EX = "http://example.org/"
KGO = "https://w3id.org/kgraph/ontology#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
PREFIXES = f"PREFIX kgo: <{KGO}>\nPREFIX rdfs: <{RDFS}>\n"
#: The three cheap kinds of the benchmark (bench/workload.py), on state 1.
ASK = PREFIXES + f"ASK {{ <{EX}state/1> ?p ?o }}"
LOOKUP = PREFIXES + f"SELECT ?p ?o WHERE {{ <{EX}state/1> ?p ?o }}"
SMALL_JOIN = PREFIXES + f"""SELECT ?treaty ?label ?signed WHERE {{
  <{EX}state/1> kgo:partyTo ?treaty . ?treaty rdfs:label ?label ; kgo:signedOn ?signed }}"""
HUB = 3 * MAX_JOIN  # triples on the hub subject, and labelled things in all


def _data() -> str:
    lines = []
    for t in range(40):  # treaties: few, labelled and dated
        lines.append(f'<{EX}treaty/{t}> <{RDFS}label> "treaty {t}" ; '
                     f'<{KGO}signedOn> "19{50 + t}-01-01"^^<http://www.w3.org/2001/XMLSchema#date> .')
    for s in range(10):
        lines.append(f'<{EX}state/{s}> <{RDFS}label> "state {s}" ; '
                     f'<{KGO}partyTo> <{EX}treaty/{s}>, <{EX}treaty/{s + 1}> .')
    for i in range(HUB):  # a hub: one subject with many triples, and many labels in all
        lines.append(f'<{EX}hub> <{EX}has> <{EX}thing/{i}> . '
                     f'<{EX}thing/{i}> <{RDFS}label> "thing {i}" .')
    return "INSERT DATA { GRAPH <" + EX + "g> { " + " ".join(lines) + " } }"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Publisher]]:
    """A store directory with a published snapshot, as the writer leaves it."""
    store_dir = tmp_path_factory.mktemp("cost") / "store"
    store = OxigraphStore(store_dir)
    store.update(_data())
    publisher = Publisher(store_dir, grace_s=60)
    publisher.publish(store.native.backup)
    store.close()
    yield store_dir, publisher
    publisher.close()


@pytest.fixture(scope="module")
def pooled(snapshot: tuple[Path, Publisher]) -> Iterator[PooledStore]:
    old = os.environ.get("KGRAPH_LOCAL_QUERIES")
    os.environ["KGRAPH_LOCAL_QUERIES"] = "1"  # answers in the worker (off by default)
    try:
        store = PooledStore(replace(Settings(), threads=1, query_timeout_s=10), snapshot[0],
                            None)
    finally:
        if old is None:
            del os.environ["KGRAPH_LOCAL_QUERIES"]
        else:
            os.environ["KGRAPH_LOCAL_QUERIES"] = old
    yield store
    store.close()


@pytest.fixture(scope="module")
def engine(snapshot: tuple[Path, Publisher]) -> Iterator[OxigraphStore]:
    store = OxigraphStore(snapshot[0] / "kgraph-snapshots" / "1", read_only=True)
    yield store
    store.close()


def _counts(engine: OxigraphStore):  # type: ignore[no-untyped-def]
    def count(patterns, cap):  # type: ignore[no-untyped-def]
        row = next(iter(engine.native_query(count_query(patterns, cap))))  # type: ignore[call-overload]
        return [int(row[i].value) for i in range(len(patterns))]
    return count


def _cheap(model: CostModel, engine: OxigraphStore, text: str) -> bool:
    plan = model.plan(text)
    return plan is not None and model.bounded(plan, _counts(engine))


def test_accepts_the_three_cheap_kinds(engine: OxigraphStore) -> None:
    model = CostModel()
    assert _cheap(model, engine, ASK)
    assert _cheap(model, engine, LOOKUP)
    assert _cheap(model, engine, SMALL_JOIN.replace("rdfs:label ?label ;", ""))
    plan = model.plan(LOOKUP)
    assert plan is not None and plan.streaming  # one pattern: bounded while written


@pytest.mark.parametrize("text", [
    # a hub constant: too many matches to order or join
    f"SELECT ?o {{ <{EX}hub> <{EX}has> ?o }} ORDER BY ?o",
    f"SELECT DISTINCT ?o {{ <{EX}hub> ?p ?o }}",
    f"SELECT * {{ <{EX}hub> ?p ?o FILTER(?o = <{EX}nothing>) }}",
    # everything, and a cross product
    "SELECT * { ?s ?p ?o }",
    "ASK { ?s ?p ?o . ?a ?b ?c }",
    "SELECT * { " + " ".join(f"<{EX}state/{i}> ?p{i} ?o{i} ." for i in range(7)) + " }",
    # a join through a pattern with many matches (plan-independent: a hash join reads it all)
    SMALL_JOIN,
    # property paths, subqueries, SERVICE, GRAPH, OPTIONAL, UNION, EXISTS, aggregates, FROM
    f"SELECT ?o {{ <{EX}state/1> <{KGO}partyTo>* ?o }}",
    f"SELECT ?o {{ <{EX}state/1> <{KGO}partyTo>/<{RDFS}label> ?o }}",
    f"SELECT * {{ {{ SELECT * {{ <{EX}state/1> ?p ?o }} }} }}",
    f"SELECT * {{ SERVICE <http://127.0.0.1:1/> {{ <{EX}state/1> ?p ?o }} }}",
    f"SELECT * {{ GRAPH ?g {{ <{EX}state/1> ?p ?o }} }}",
    f"SELECT * {{ <{EX}state/1> ?p ?o OPTIONAL {{ ?o ?q ?r }} }}",
    f"SELECT * {{ {{ <{EX}state/1> ?p ?o }} UNION {{ <{EX}state/2> ?p ?o }} }}",
    f"SELECT * {{ <{EX}state/1> ?p ?o FILTER EXISTS {{ ?o ?q ?r }} }}",
    f"SELECT (COUNT(*) AS ?n) {{ <{EX}state/1> ?p ?o }}",
    f"SELECT * FROM <{EX}g> {{ <{EX}state/1> ?p ?o }}",
    f"CONSTRUCT WHERE {{ <{EX}state/1> ?p ?o }}",
    f"DESCRIBE <{EX}state/1>",
    # a relative IRI, a syntax error
    "SELECT * { <state/1> ?p ?o }",
    f"SELECT * {{ <{EX}state/1> ?p ?o",
])
def test_refuses_what_it_cannot_bound(engine: OxigraphStore, text: str) -> None:
    assert not _cheap(CostModel(), engine, text)


def test_a_hub_lookup_streams_but_is_never_counted(engine: OxigraphStore) -> None:
    """One pattern, nothing blocking: bounded while written (the worker gives it up past
    its budget), so it needs no count; with ORDER BY it must be counted, and is refused."""
    model = CostModel()
    plan = model.plan(f"SELECT ?o {{ <{EX}hub> ?p ?o }}")
    assert plan is not None and plan.streaming
    assert not _cheap(model, engine, f"SELECT ?o {{ <{EX}hub> ?p ?o }} ORDER BY ?o")


def test_shape_cache_keeps_the_request_constants() -> None:
    model = CostModel()
    one = model.plan(LOOKUP + "\n# request 1")
    two = model.plan(LOOKUP.replace("state/1", "state/2") + "\n# request 2")
    assert one is not None and two is not None
    assert str(one.patterns[0][0]) == f"<{EX}state/1>"
    assert str(two.patterns[0][0]) == f"<{EX}state/2>"
    assert len(model._shapes) == 1  # one parse for both
    # a prefix declared differently is another shape (its IRI is not a placeholder)
    other = LOOKUP.replace(KGO, EX + "other#")
    assert model.plan(other) is not None and len(model._shapes) == 2


JSON = {"Accept": "application/sparql-results+json"}


def _seen(r) -> tuple[str, list[tuple[str, str]], bytes]:  # type: ignore[no-untyped-def]
    headers = sorted((k, v) for k, v in r.headers.items() if k not in ("X-Request-Id", "Date"))
    return r.status, headers, r.get_data()


@pytest.mark.parametrize("accept", ["application/sparql-results+json",
                                    "application/sparql-results+xml", "text/csv",
                                    "text/tab-separated-values"])
def test_answers_alike_in_the_worker_and_in_a_query_process(
        pooled: PooledStore, settings: Settings, accept: str) -> None:
    app = create_app(settings, pooled)
    kg = app.extensions["kgraph"]
    client = app.test_client()
    local = pooled.local
    assert local is not None
    texts = [ASK, LOOKUP, SMALL_JOIN.replace("rdfs:label ?label ;", ""),
             f"SELECT ?o {{ <{EX}hub> ?p ?o }}",  # too long for the budget: handed on
             f"SELECT * {{ <{EX}state/1> ?p ?o }} ORDER BY DESC(?o) LIMIT 3",
             f"SELECT * {{ <{EX}state/1> ?p ?o }} OFFSET 1"]
    try:
        for text in texts:
            if text.startswith(PREFIXES + "ASK") and "xml" not in accept and "json" not in accept:
                continue  # ASK has no CSV/TSV form
            seen = []
            answered = local.answered
            for here in (True, False):
                pooled.local = local if here else None
                kg.cache.clear()
                seen.append(_seen(client.get("/sparql", query_string={"query": text},
                                             headers={"Accept": accept})))
            assert seen[0] == seen[1], text
            assert seen[0][0].startswith("200")
            if "hub" not in text:
                assert local.answered == answered + 1, text  # it was answered in the worker
    finally:
        pooled.local = local


def test_a_write_is_seen_by_the_next_query(pooled: PooledStore,
                                           snapshot: tuple[Path, Publisher]) -> None:
    """A new published version is read before every query: the worker's handle follows."""
    store_dir, publisher = snapshot
    query = f"ASK {{ <{EX}new> ?p ?o }}"

    def ask() -> bytes:
        answer = pooled.query_serialized(query, solutions_format="application/sparql-results+json")
        return b"".join(answer.chunks)

    assert b"false" in ask()
    # the writer's part, done here: apply a write to a copy and publish it
    copy = OxigraphStore(store_dir.parent / "copy")
    copy.native.bulk_extend(list(OxigraphStore(store_dir / "kgraph-snapshots" / "1",
                                               read_only=True).native))
    copy.update(f"INSERT DATA {{ <{EX}new> <{EX}p> 1 }}")
    publisher.publish(copy.native.backup)
    copy.close()
    answered = pooled.local.answered  # type: ignore[union-attr]
    assert b"true" in ask()
    assert pooled.local.answered == answered + 1  # type: ignore[union-attr]
