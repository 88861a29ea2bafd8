"""The SPARQL 1.1 Service Description of a kgraph endpoint, as RDF.

Built from the live configuration and store, so it never claims a feature
(updates, a graph) that the endpoint would not honour.
"""

from __future__ import annotations

from pyoxigraph import BlankNode, Literal, NamedNode, Triple

from ..config import Settings
from ..store.base import Store

SD = "http://www.w3.org/ns/sparql-service-description#"
FORMATS = "http://www.w3.org/ns/formats/"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
XSD = "http://www.w3.org/2001/XMLSchema#"
#: Prefixes for writing the description.
SD_PREFIXES = {"sd": SD, "formats": FORMATS}

_RESULT_FORMATS = ["SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV",
                   "SPARQL_Results_TSV", "Turtle", "N-Triples", "RDF_XML", "JSON-LD"]
_INPUT_FORMATS = ["Turtle", "N-Triples", "N-Quads", "TriG", "RDF_XML", "JSON-LD"]


def describe(endpoint_url: str, settings: Settings, store: Store) -> list[Triple]:
    """Triples describing the endpoint at ``endpoint_url``."""
    svc = BlankNode()
    out: list[Triple] = []

    def add(s: NamedNode | BlankNode, p: str, o: NamedNode | BlankNode | Literal) -> None:
        out.append(Triple(s, NamedNode(p), o))

    out.append(Triple(svc, RDF_TYPE, NamedNode(SD + "Service")))
    add(svc, SD + "endpoint", NamedNode(endpoint_url))
    add(svc, SD + "supportedLanguage", NamedNode(SD + "SPARQL11Query"))
    if settings.allow_update:
        add(svc, SD + "supportedLanguage", NamedNode(SD + "SPARQL11Update"))
    for feature in ("UnionDefaultGraph", "BasicFederatedQuery"):
        add(svc, SD + "feature", NamedNode(SD + feature))
    for fmt in _RESULT_FORMATS:
        add(svc, SD + "resultFormat", NamedNode(FORMATS + fmt))
    for fmt in _INPUT_FORMATS:
        add(svc, SD + "inputFormat", NamedNode(FORMATS + fmt))
    dataset = BlankNode()
    add(svc, SD + "defaultDataset", dataset)
    out.append(Triple(dataset, RDF_TYPE, NamedNode(SD + "Dataset")))
    default_graph = BlankNode()
    add(dataset, SD + "defaultGraph", default_graph)
    out.append(Triple(default_graph, RDF_TYPE, NamedNode(SD + "Graph")))
    add(default_graph, "http://www.w3.org/2000/01/rdf-schema#comment",
        Literal("The union of all named graphs and the store's default graph."))
    for graph in store.named_graphs():
        named = BlankNode()
        add(dataset, SD + "namedGraph", named)
        out.append(Triple(named, RDF_TYPE, NamedNode(SD + "NamedGraph")))
        add(named, SD + "name", NamedNode(graph))
    return out
