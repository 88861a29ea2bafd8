"""The IRIs kgraph mints: ontology terms, resources and named graphs.

They live under one stable namespace so that a dump taken today still means the
same thing after an upgrade. The named-graph layout is documented in
``docs/graphs.md``; keep the two in step.
"""

from __future__ import annotations

BASE = "https://w3id.org/kgraph/"

#: Ontology terms (classes and properties), prefix ``kgo:``.
KGO = BASE + "ontology#"
#: The ontology document and its version IRI.
ONTOLOGY_IRI = BASE + "ontology"
ONTOLOGY_VERSION_IRI = BASE + "ontology/1.0.0"
#: Individuals drawn from sources (states, people, treaties, facts), prefix ``kgr:``.
KGR = BASE + "resource/"
#: Source documents, ``kgr:document/<doc-id>``.
DOCUMENT = KGR + "document/"

#: Named graphs.
GRAPH = BASE + "graph/"
GRAPH_ONTOLOGY = GRAPH + "ontology"
GRAPH_INFERRED = GRAPH + "inferred"
GRAPH_WIKIDATA = GRAPH + "wikidata"
GRAPH_SOURCE = GRAPH + "source/"
#: Which input files (by SHA-256) each graph above was last loaded from at server start.
GRAPH_BOOTSTRAP = GRAPH + "bootstrap"

WIKIDATA_ENTITY = "http://www.wikidata.org/entity/"
WIKIDATA_ENDPOINT = "https://query.wikidata.org/sparql"

OWL = "http://www.w3.org/2002/07/owl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
PROV = "http://www.w3.org/ns/prov#"
OA = "http://www.w3.org/ns/oa#"
DCT = "http://purl.org/dc/terms/"

PREFIXES: dict[str, str] = {
    "kgo": KGO,
    "kgr": KGR,
    "owl": OWL,
    "rdf": RDF,
    "rdfs": RDFS,
    "xsd": XSD,
    "skos": SKOS,
    "prov": PROV,
    "oa": OA,
    "dcterms": DCT,
    "time": "http://www.w3.org/2006/time#",
    "sh": "http://www.w3.org/ns/shacl#",
    "wd": WIKIDATA_ENTITY,
    "wdt": "http://www.wikidata.org/prop/direct/",
}


def source_graph(doc_id: str) -> str:
    """The named graph that holds the facts drawn from one source document."""
    return GRAPH_SOURCE + doc_id


def document_iri(doc_id: str) -> str:
    """The IRI of a source document (a ``prov:Entity``)."""
    return DOCUMENT + doc_id
