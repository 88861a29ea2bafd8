"""Blank nodes keep their identity whenever kgraph copies, replaces or materializes a graph.

The rule and how each engine is told are in kgraph.store.bnodes and docs/store.md
("Blank nodes"). Here: the knowledge base's OWL restrictions (class expressions in the
ontology, which the inferred graph points at), an uploaded graph copied, replaced and
reasoned over, the writer process's wire, and the two remote engines.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Quad, RdfFormat, Triple

from kgraph.bootstrap import digest, ontology_files
from kgraph.config import Settings
from kgraph.ingest import load_facts
from kgraph.ingest.compile import compile_document
from kgraph.loader import parse_files
from kgraph.namespaces import GRAPH_BOOTSTRAP, GRAPH_INFERRED, GRAPH_ONTOLOGY, KGO
from kgraph.reasoning import materialize
from kgraph.store import open_store
from kgraph.store.bnodes import GENID, engine_bnode_iri, replace_update
from kgraph.store.oxigraph import OxigraphStore
from kgraph.web import create_app

from .engines import (  # noqa: F401 - fixtures
    Engine,
    engine_fixture,
    engine_store_fixture,
    oxigraph_engine_fixture,
    virtuoso_engine_fixture,
)
from .support import TOKEN, ServerProcess

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "data" / "facts" / "bandow-2021-07-10.yaml"
OWL = "http://www.w3.org/2002/07/owl#"
EX = "http://example.org/"
G, H, L = EX + "g", EX + "h", EX + "links"

#: Members of OWL class expressions: the restriction nodes are blank, in the ontology's
#: graph; the memberships are inferred.
RESTRICTIONS = f"SELECT ?x ?c ?p WHERE {{ ?x a ?c . ?c <{OWL}onProperty> ?p }}"
#: Blank nodes of the inferred graph that occur in no other graph (the rules mint none).
FOREIGN = f"""SELECT (COUNT(DISTINCT ?b) AS ?n) WHERE {{
  GRAPH <{GRAPH_INFERRED}> {{ {{ ?b ?p ?o }} UNION {{ ?s ?p ?b }} }} FILTER isBlank(?b)
  FILTER NOT EXISTS {{ GRAPH ?g {{ {{ ?b ?p2 ?o2 }} UNION {{ ?s2 ?p2 ?b }} }}
                      FILTER(?g != <{GRAPH_INFERRED}>) }} }}"""

ONTOLOGY = f"""
@prefix ex: <{EX}> .
@prefix owl: <{OWL}> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:Parent owl:equivalentClass [ a owl:Restriction ; owl:onProperty ex:hasChild ;
                                owl:someValuesFrom ex:Person ] .
ex:Voter rdfs:subClassOf [ a owl:Restriction ; owl:onProperty ex:citizenOf ;
                           owl:someValuesFrom ex:State ] .
ex:alice ex:hasChild ex:bob . ex:bob a ex:Person .
ex:carol ex:citizenOf ex:oslo . ex:oslo a ex:State .
"""


def _rows(store: object, sparql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in store.query(sparql).rows]  # type: ignore[attr-defined]


def _number(store: object, sparql: str) -> int:
    return int(_rows(store, sparql)[0][0].value)  # type: ignore[attr-defined]


def _graph_lines(store: OxigraphStore, graph: str) -> list[str]:
    out = io.BytesIO()
    store.native.dump(out, RdfFormat.N_TRIPLES, from_graph=NamedNode(graph))
    return sorted(out.getvalue().decode("utf-8").splitlines())


# -- the knowledge base, built the way bootstrap builds it ---------------------------------
@pytest.fixture(scope="module")
def kb() -> OxigraphStore:
    """The steps of start-up in its order (kgraph.bootstrap.ensure_loaded), SHACL
    validation skipped (the ingest tests' business): ontology and facts written with
    ``replace_graph``, the Wikidata snapshot, the inferences, then the record of input
    digests."""
    if not FACTS.exists():
        pytest.skip("knowledge base not present")
    return _build_kb(open_store(None))  # type: ignore[return-value]


def _build_kb(store: object) -> object:
    """Start-up's steps (see :func:`kb`) on ``store``."""
    files = ontology_files(ROOT / "ontology")
    store.replace_graph(GRAPH_ONTOLOGY, parse_files(files, GRAPH_ONTOLOGY, progress=False))
    compiled = compile_document(load_facts(FACTS))
    store.replace_graph(compiled.graph, compiled.quads)
    if (ROOT / "data" / "wikidata").is_dir():
        from kgraph.linking.snapshot import load_snapshot

        load_snapshot(store)
    materialize(store)
    record = NamedNode(GRAPH_BOOTSTRAP)
    store.replace_graph(GRAPH_BOOTSTRAP, [
        Quad(NamedNode(g), NamedNode(KGO + "sha256"), Literal(digest(inputs)), record)
        for g, inputs in ((GRAPH_ONTOLOGY, files), (compiled.graph, [FACTS]))])
    return store


def test_restriction_members_are_found_across_inferred_and_ontology(kb: OxigraphStore) -> None:
    rows = _rows(kb, RESTRICTIONS)
    assert rows, "no member of any OWL restriction: the inferred graph lost the class nodes"
    restriction = NamedNode(OWL + "Restriction")
    for _, c, _ in rows:
        assert isinstance(c, BlankNode)
        # the node is the ontology's own
        assert next(kb.match(c, None, restriction, graph=GRAPH_ONTOLOGY), None) is not None


def test_inferred_graph_holds_no_blank_node_of_its_own(kb: OxigraphStore) -> None:
    assert _number(kb, f"SELECT (COUNT(*) AS ?n) {{ GRAPH <{GRAPH_INFERRED}> {{ ?s ?p ?o }} "
                       "FILTER(isBlank(?s) || isBlank(?o)) }") > 0
    assert _number(kb, FOREIGN) == 0


def test_materializing_again_changes_nothing(kb: OxigraphStore) -> None:
    before = _graph_lines(kb, GRAPH_INFERRED)
    materialize(kb)
    # the same triples with the same blank nodes: none minted, none grown (start-up's
    # bookkeeping graph, written after its inferences, is no input to them)
    assert _graph_lines(kb, GRAPH_INFERRED) == before


def test_served_bootstrap_keeps_the_links(kb_server: ServerProcess) -> None:
    """The real start-up: bootstrap in the writer process, queries in executors."""
    def select(query: str) -> list[dict[str, dict[str, str]]]:
        r = requests.post(kb_server.sparql, data={"query": query}, timeout=60,
                          headers={"Accept": "application/sparql-results+json"})
        assert r.status_code == 200, r.text
        return r.json()["results"]["bindings"]

    rows = select(RESTRICTIONS)
    assert rows and all(row["c"]["type"] == "bnode" for row in rows)
    assert select(FOREIGN)[0]["n"]["value"] == "0"


# -- an uploaded graph ---------------------------------------------------------------------
@pytest.fixture
def uploaded(settings: Settings) -> Iterator[tuple[object, OxigraphStore]]:
    """A test client over an in-memory store with ``ONTOLOGY`` PUT into graph ``G``."""
    store = open_store(None)
    client = create_app(settings, store).test_client()
    r = client.put("/store", query_string={"graph": G}, data=ONTOLOGY.encode(),
                   headers={"Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 201, r.data
    yield client, store  # type: ignore[misc]


def _restriction_nodes(store: object, graph: str) -> set[object]:
    return {r[0] for r in _rows(store, f"SELECT ?c {{ GRAPH <{graph}> {{ ?c <{OWL}onProperty> "
                                       f"?p }} }}")}


def test_an_uploaded_graph_copied_and_replaced_keeps_its_nodes(
        uploaded: tuple[object, OxigraphStore]) -> None:
    _, store = uploaded
    nodes = _restriction_nodes(store, G)
    assert len(nodes) == 2 and all(isinstance(n, BlankNode) for n in nodes)
    # a graph that points at the uploaded graph's nodes
    store.add_quads(Quad(NamedNode(EX + "note"), NamedNode(EX + "about"), n, NamedNode(L))
                    for n in nodes)
    # copy through the Store interface: the copy holds the same nodes
    store.replace_graph(H, [Quad(t.subject, t.predicate, t.object, NamedNode(H))
                            for t in store.triples(G)])
    assert _restriction_nodes(store, H) == nodes
    assert store.count(H) == store.count(G)
    # rewrite the graph with its own content: the links from elsewhere still arrive
    store.replace_graph(G, list(store.triples(G)))  # type: ignore[arg-type]
    assert _restriction_nodes(store, G) == nodes
    linked = _rows(store, f"SELECT ?p WHERE {{ GRAPH <{L}> {{ ?n <{EX}about> ?c }} "
                          f"GRAPH <{G}> {{ ?c <{OWL}onProperty> ?p }} }}")
    assert {r[0] for r in linked} == {NamedNode(EX + "hasChild"), NamedNode(EX + "citizenOf")}


def test_an_uploaded_graph_reasoned_over_and_copied_by_sparql(
        uploaded: tuple[object, OxigraphStore]) -> None:
    client, store = uploaded
    materialize(store)
    members = {(r[0], r[2]) for r in _rows(store, RESTRICTIONS)}
    assert members == {(NamedNode(EX + "alice"), NamedNode(EX + "hasChild")),
                       (NamedNode(EX + "carol"), NamedNode(EX + "citizenOf"))}
    assert _number(store, FOREIGN) == 0
    assert NamedNode(EX + "Parent") in {r[0] for r in _rows(
        store, f"SELECT ?k {{ GRAPH <{GRAPH_INFERRED}> {{ <{EX}alice> a ?k }} }}")}
    r = client.post("/sparql", data={"update": f"COPY <{G}> TO <{H}>"},  # type: ignore[attr-defined]
                    headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code in (200, 204), r.data
    assert _restriction_nodes(store, H) == _restriction_nodes(store, G)


def test_two_uploads_of_one_document_are_two_sets_of_nodes(
        uploaded: tuple[object, OxigraphStore]) -> None:
    client, store = uploaded
    r = client.put("/store", query_string={"graph": H}, data=ONTOLOGY.encode(),  # type: ignore[attr-defined]
                   headers={"Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 201
    assert not _restriction_nodes(store, G) & _restriction_nodes(store, H)


# -- the write path itself -----------------------------------------------------------------
def test_the_writer_process_gets_the_same_nodes() -> None:
    """HTTP workers send writes to the writer as N-Quads: labels arrive verbatim."""
    from kgraph.store.pool import _nquads
    from kgraph.store.writer import _Writer

    class Publisher:
        version = 0

        def publish(self, backup: object) -> int:
            self.version += 1
            return self.version

    store = open_store(None)
    b = BlankNode()
    store.add_quads([Quad(b, NamedNode(EX + "v"), Literal("x"), NamedNode(G))])
    writer = _Writer(store, Publisher())
    read_back = [Quad(NamedNode(EX + "a"), NamedNode(EX + "p"), q.subject, NamedNode(H))
                 for q in store.match(None, None, None, graph=G)]
    assert writer.handle(("replace_graph", H, _nquads(read_back)))[0] == "ok"
    assert writer.handle(("add_quads", _nquads(
        [Quad(NamedNode(EX + "c"), NamedNode(EX + "p"), b, NamedNode(L))])))[0] == "ok"
    joined = _rows(store, f"SELECT ?s WHERE {{ GRAPH <{G}> {{ ?b <{EX}v> 'x' }} "
                          f"GRAPH ?g {{ ?s <{EX}p> ?b }} }}")
    assert {r[0] for r in joined} == {NamedNode(EX + "a"), NamedNode(EX + "c")}


def test_replace_update_touches_only_its_own_skolem_iris() -> None:
    store = open_store(None)
    b = BlankNode()
    foreign = NamedNode(GENID + "not-ours")  # an IRI in the data under the same prefix
    quoted = Triple(b, NamedNode(EX + "said"), Literal("q"))
    triples = [Triple(NamedNode(EX + "a"), NamedNode(EX + "p"), b),
               Triple(b, NamedNode(EX + "same"), foreign),
               Triple(b, NamedNode(EX + "next"), BlankNode()),
               Triple(NamedNode(EX + "x"), NamedNode(EX + "quotes"), quoted),
               Triple(NamedNode(EX + "a"), NamedNode(EX + "q"), Literal("plain"))]
    for graph in (G, None):
        store.replace_graph(graph, [Quad(t.subject, t.predicate, t.object, DefaultGraph())
                                    for t in triples])
        target = NamedNode(graph) if graph else DefaultGraph()
        assert {q.triple for q in store.match(None, None, None, graph=graph)} == set(triples)
        assert next(store.native.quads_for_pattern(b, None, foreign, target), None) is not None
    text, functions = replace_update(G, [])
    assert "INSERT" not in text and not functions  # an empty graph: cleared, created
    store.native.update(text)
    assert store.contains_graph(G) and store.count(G) == 0


def test_virtuoso_spelling_of_blank_nodes() -> None:
    # the engine's own labels go back as they came; kgraph's land in a range of their own
    assert engine_bnode_iri(BlankNode("b10007"), "nodeID://") == NamedNode("nodeID://b10007")
    own = engine_bnode_iri(BlankNode("c0ffee"), "nodeID://").value
    assert own == engine_bnode_iri(BlankNode("c0ffee"), "nodeID://").value
    number = int(own.removeprefix("nodeID://b"))
    assert 1 << 61 <= number < (1 << 61) + (1 << 60)
    assert own != engine_bnode_iri(BlankNode("c0ffef"), "nodeID://").value


# -- remote engines ------------------------------------------------------------------------
BOTH = pytest.mark.parametrize("engine", ["oxigraph", "virtuoso"], indirect=True)


@pytest.mark.slow
@BOTH
def test_remote_engine_side_copy_keeps_nodes(engine_store: object) -> None:
    store = engine_store
    store.load(ONTOLOGY.encode(), "text/turtle", graph=G)  # type: ignore[attr-defined]
    nodes = _restriction_nodes(store, G)
    assert len(nodes) == 2
    store.update(f"COPY <{G}> TO <{H}>")  # type: ignore[attr-defined]
    assert _restriction_nodes(store, H) == nodes


@pytest.mark.slow
@BOTH
def test_remote_engine_keeps_nodes_on_replace_and_materialize(engine_store: object) -> None:
    store = engine_store
    store.load(ONTOLOGY.encode(), "text/turtle", graph=G)  # type: ignore[attr-defined]
    nodes = _restriction_nodes(store, G)
    assert len(nodes) == 2
    store.add_quads([Quad(NamedNode(EX + "note"), NamedNode(EX + "about"), n,  # type: ignore[attr-defined]
                          NamedNode(L)) for n in nodes])
    store.replace_graph(H, [Quad(t.subject, t.predicate, t.object, NamedNode(H))  # type: ignore[attr-defined]
                            for t in store.triples(G)])  # type: ignore[attr-defined]
    assert _restriction_nodes(store, H) == nodes
    linked = _rows(store, f"SELECT ?p WHERE {{ GRAPH <{L}> {{ ?n <{EX}about> ?c }} "
                          f"GRAPH <{H}> {{ ?c <{OWL}onProperty> ?p }} }}")
    assert len(linked) == 2
    materialize(store)
    members = {(r[0], r[2]) for r in _rows(store, RESTRICTIONS)}
    assert members == {(NamedNode(EX + "alice"), NamedNode(EX + "hasChild")),
                       (NamedNode(EX + "carol"), NamedNode(EX + "citizenOf"))}
    first = sorted(map(str, store.triples(GRAPH_INFERRED)))  # type: ignore[attr-defined]
    materialize(store)
    assert sorted(map(str, store.triples(GRAPH_INFERRED))) == first  # type: ignore[attr-defined]


# -- Oxigraph server: nodes known by their description --------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("engine", ["oxigraph"], indirect=True)
def test_oxigraph_server_knowledge_base_keeps_the_links(engine_store: object,
                                                        kb: OxigraphStore) -> None:
    """Start-up's steps on Oxigraph server find what they find in the embedded store."""
    store = _build_kb(engine_store)
    assert _number(store, FOREIGN) == 0
    members = {(r[0], r[2]) for r in _rows(store, RESTRICTIONS)}
    assert members and members == {(r[0], r[2]) for r in _rows(kb, RESTRICTIONS)}
    assert len(_rows(store, RESTRICTIONS)) == len(_rows(kb, RESTRICTIONS))
    first = sorted(map(str, store.triples(GRAPH_INFERRED)))  # type: ignore[attr-defined]
    materialize(store)
    assert sorted(map(str, store.triples(GRAPH_INFERRED))) == first  # type: ignore[attr-defined]


TWINS = f"""
@prefix ex: <{EX}> .
@prefix owl: <{OWL}> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
# the same restriction twice, each in a list that tells it apart (as in kgraph's ontology)
ex:A owl:intersectionOf ( ex:T [ a owl:Restriction ; owl:onProperty ex:status ;
                                 owl:hasValue ex:InForce ] ) .
ex:B owl:intersectionOf ( ex:U [ a owl:Restriction ; owl:onProperty ex:status ;
                                 owl:hasValue ex:InForce ] ) .
# the same restriction twice, nothing blank around either: indistinguishable
ex:C rdfs:subClassOf [ a owl:Restriction ; owl:onProperty ex:p ; owl:someValuesFrom ex:D ] .
ex:E rdfs:subClassOf [ a owl:Restriction ; owl:onProperty ex:p ; owl:someValuesFrom ex:D ] .
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["oxigraph"], indirect=True)
def test_oxigraph_server_identical_descriptions(engine_store: object,
                                                caplog: pytest.LogCaptureFixture) -> None:
    store = engine_store
    store.load(TWINS.encode(), "text/turtle", graph=G)  # type: ignore[attr-defined]
    in_force = {r[0]: r[1] for r in _rows(store, f"""SELECT ?k ?r WHERE {{ GRAPH <{G}> {{
        ?k <{OWL}intersectionOf>/<http://www.w3.org/1999/02/22-rdf-syntax-ns#rest>/
           <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> ?r }} }}""")}
    twins = [r[0] for r in _rows(store, f"SELECT ?r WHERE {{ GRAPH <{G}> {{ ?r <{OWL}onProperty> "
                                        f"<{EX}p> }} }}")]
    assert len(in_force) == 2 and len(set(in_force.values())) == 2 and len(set(twins)) == 2
    size = store.count(G)  # type: ignore[attr-defined]
    about = NamedNode(EX + "about")
    links = [Quad(k, about, r, NamedNode(L)) for k, r in in_force.items()]
    links += [Quad(NamedNode(EX + f"twin{i}"), about, r, NamedNode(L))
              for i, r in enumerate(twins)]
    with caplog.at_level("WARNING", logger="kgraph.store.remote"):
        store.add_quads(links)  # type: ignore[attr-defined]
    # told apart by the lists that hold them: each link reaches its own restriction
    joined = _rows(store, f"""SELECT ?k WHERE {{ GRAPH <{L}> {{ ?k <{EX}about> ?r }}
        GRAPH <{G}> {{ ?k <{OWL}intersectionOf>/<http://www.w3.org/1999/02/22-rdf-syntax-ns#rest>/
                       <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> ?r }} }}""")
    assert sorted(r[0].value for r in joined) == [EX + "A", EX + "B"]
    # indistinguishable: written as new nodes, never multiplied, and said so
    assert store.count(L) == 4  # type: ignore[attr-defined]
    assert not _rows(store, f"SELECT ?t WHERE {{ GRAPH <{L}> {{ ?t <{EX}about> ?r }} "
                            f"GRAPH <{G}> {{ ?r <{OWL}onProperty> <{EX}p> }} }}")
    assert sum("more than one node" in r.getMessage() for r in caplog.records) == 2
    assert store.count(G) == size  # type: ignore[attr-defined]
