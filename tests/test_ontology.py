"""The ontology is OWL 2 DL, consistent and fully satisfiable under HermiT, and documented.

owlready2 reads RDF/XML and N-Triples best, so the Turtle is converted with rdflib first.
HermiT runs with ``ignoreUnsupportedDatatypes`` because the knowledge base uses
xsd:gYear / xsd:gYearMonth, which are outside the OWL 2 datatype map (they are plain data
to us; no axiom reasons over them).

The ontology together with the knowledge base is checked once, on the store as bootstrap
fills it, in ``tests/test_reasoning_kb.py::test_hermit_finds_the_knowledge_base_consistent``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import rdflib
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from kgraph.namespaces import KGO, ONTOLOGY_IRI, ONTOLOGY_VERSION_IRI

owlready2 = pytest.importorskip("owlready2")

ROOT = Path(__file__).resolve().parents[1]
ONTOLOGY_FILES = sorted((ROOT / "ontology").glob("kgraph*.ttl"))

DECLARATION_TYPES = {OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty,
                     OWL.AnnotationProperty, OWL.NamedIndividual}


def ontology_graph() -> rdflib.Graph:
    graph = rdflib.Graph()
    for path in ONTOLOGY_FILES:
        graph.parse(path, format="turtle")
    return graph


def hermit(graph: rdflib.Graph) -> tuple[bool, list[str]]:
    """Run HermiT on ``graph``: (consistent?, IRIs of unsatisfiable named classes)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.nt"
        graph.serialize(path, format="nt", encoding="utf-8")
        world = owlready2.World()
        onto = world.get_ontology(path.as_uri()).load()
        try:
            with onto:
                owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0,
                                               ignore_unsupported_datatypes=True)
        except owlready2.OwlReadyInconsistentOntologyError:
            return False, []
        unsatisfiable = sorted(c.iri for c in world.inconsistent_classes()
                               if c is not owlready2.Nothing)
        world.close()
        return True, unsatisfiable


def test_ontology_header() -> None:
    graph = ontology_graph()
    onto = rdflib.URIRef(ONTOLOGY_IRI)
    assert (onto, RDF.type, OWL.Ontology) in graph
    assert (onto, OWL.versionIRI, rdflib.URIRef(ONTOLOGY_VERSION_IRI)) in graph


def test_every_term_has_english_label_and_definition() -> None:
    graph = ontology_graph()
    terms = {s for t in DECLARATION_TYPES for s in graph.subjects(RDF.type, t)
             if isinstance(s, rdflib.URIRef) and str(s).startswith(KGO)}
    assert len(terms) > 150
    missing = []
    for term in sorted(terms):
        labels = [o for o in graph.objects(term, RDFS.label) if getattr(o, "language", None) == "en"]
        definitions = [o for o in graph.objects(term, SKOS.definition)
                       if getattr(o, "language", None) == "en"]
        if len(labels) != 1 or len(definitions) != 1:
            missing.append(str(term))
    assert missing == []


def test_every_kgo_term_used_is_declared() -> None:
    """A misspelt kgo: name in an axiom would silently mint a new, meaningless term."""
    graph = ontology_graph()
    declared = {s for t in DECLARATION_TYPES for s in graph.subjects(RDF.type, t)}
    used = {n for triple in graph for n in triple
            if isinstance(n, rdflib.URIRef) and str(n).startswith(KGO)}
    assert sorted(map(str, used - declared)) == []


def test_key_axioms() -> None:
    graph = ontology_graph()
    k = rdflib.Namespace(KGO)
    assert (k.alliedWith, RDF.type, OWL.SymmetricProperty) in graph
    assert (k.borders, RDF.type, OWL.SymmetricProperty) in graph
    assert (k.hasParty, OWL.inverseOf, k.partyTo) in graph
    assert (k.contestedBy, OWL.inverseOf, k.contests) in graph
    assert (k.negates, RDFS.subPropertyOf, k.contests) in graph
    assert (k.allegesBreachOf, RDFS.subPropertyOf, k.contests) in graph
    for functional in (k.signedOn, k.modality, k.sourceProvision, k.holder, k.role):
        assert (functional, RDF.type, OWL.FunctionalProperty) in graph
    assert (k.Fact, RDFS.subClassOf, RDF.Statement) in graph
    assert (k.Fact, RDFS.subClassOf, rdflib.URIRef("http://www.w3.org/ns/prov#Entity")) in graph
    assert (k.Quote, RDFS.subClassOf,
            rdflib.URIRef("http://www.w3.org/ns/oa#SpecificResource")) in graph
    assert (k.AlliedState, OWL.equivalentClass, None) in graph


def test_hermit_consistent_and_all_classes_satisfiable() -> None:
    consistent, unsatisfiable = hermit(ontology_graph())
    assert consistent
    assert unsatisfiable == []


_PROBE = """
@prefix kgo: <https://w3id.org/kgraph/ontology#> .
@prefix ex: <urn:probe:> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
"""


def test_hermit_catches_an_unsatisfiable_class() -> None:
    """The check above can fail: a class below both State and Person is unsatisfiable."""
    graph = ontology_graph()
    graph.parse(data=_PROBE + "ex:StatePerson a owl:Class ; rdfs:subClassOf kgo:State , "
                "kgo:Person .", format="turtle")
    consistent, unsatisfiable = hermit(graph)
    assert consistent
    assert unsatisfiable == ["urn:probe:StatePerson"]


def test_hermit_disjointness_and_defined_classes() -> None:
    graph = ontology_graph()
    graph.parse(data=_PROBE + """
        ex:treaty a kgo:MutualDefenceTreaty ; kgo:status kgo:InForce ; kgo:hasParty ex:a .
        ex:a a kgo:State .
        ex:duty a kgo:Obligation ; kgo:modality kgo:Obligatory .
        ex:claim a kgo:AttributedClaim ; kgo:negates ex:duty .
    """, format="turtle")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.nt"
        graph.serialize(path, format="nt", encoding="utf-8")
        world = owlready2.World()
        onto = world.get_ontology(path.as_uri()).load()
        with onto:
            owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0,
                                           ignore_unsupported_datatypes=True)

        def types(iri: str) -> set[str]:
            return {c.iri for c in world[iri].INDIRECT_is_a if hasattr(c, "iri")}

        assert KGO + "AlliedState" in types("urn:probe:a")
        assert KGO + "MutualDefenceTreatyInForce" in types("urn:probe:treaty")
        assert KGO + "Duty" in types("urn:probe:duty")
        assert KGO + "ContestedObligation" in types("urn:probe:duty")
        world.close()

    clash = ontology_graph()
    clash.parse(data=_PROBE + "ex:x a kgo:State , kgo:Person .", format="turtle")
    assert hermit(clash) == (False, [])


