"""Writing links: into their own named graph, with provenance, and to a file.

Links live in ``https://w3id.org/kgraph/graph/links/wikidata``, not in the
article's source graph: ``kgraph ingest`` replaces a source graph wholesale,
and a link is not something the article says. The same triples are written
to ``data/wikidata/links.ttl`` so that a rebuilt store gets them back
(:func:`kgraph.linking.snapshot.load_wikidata` loads both files).

Each link is one ``skos:exactMatch`` (or ``skos:closeMatch``) triple plus a
reified statement carrying its score, method and time::

    kgr:link/PRC/Q148 a rdf:Statement , prov:Entity ;
        rdf:subject kgr:PRC ; rdf:predicate skos:exactMatch ; rdf:object wd:Q148 ;
        kgo:linkScore 0.85 ; kgo:linkMethod "label+type+context" ;
        prov:generatedAtTime "2025-..."^^xsd:dateTime ;
        prov:wasGeneratedBy kgr:activity/link/<time> .
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, serialize

from kgraph.linking.scoring import Decision, Scored
from kgraph.namespaces import GRAPH, KGO, KGR, PROV, RDF, RDFS, SKOS, WIKIDATA_ENTITY, XSD
from kgraph.store.base import Store

GRAPH_LINKS = GRAPH + "links/wikidata"


METHOD = "label+type+context"


def _n(iri: str) -> NamedNode:
    return NamedNode(iri)


def link_quads(
    decisions: Iterable[Decision], when: datetime, endpoint: str, threshold: float
) -> list[Quad]:
    """The quads of the links graph for ``decisions``."""
    g = _n(GRAPH_LINKS)
    stamp = when.isoformat(timespec="seconds")
    activity = _n(f"{KGR}activity/link/{when.strftime('%Y%m%dT%H%M%SZ')}")
    time = Literal(stamp, datatype=_n(XSD + "dateTime"))
    quads = [
        Quad(activity, _n(RDF + "type"), _n(PROV + "Activity"), g),
        Quad(activity, _n(RDFS + "label"), Literal(f"kgraph link (threshold {threshold})"), g),
        Quad(activity, _n(PROV + "used"), _n(endpoint), g),
        Quad(activity, _n(PROV + "endedAtTime"), time, g),
    ]

    def add(entity_iri: str, scored: Scored, predicate: str) -> None:
        subj, obj = _n(entity_iri), _n(WIKIDATA_ENTITY + scored.qid)
        quads.append(Quad(subj, _n(SKOS + predicate), obj, g))
        local = entity_iri[len(KGR) :] if entity_iri.startswith(KGR) else str(abs(hash(entity_iri)))
        stmt = _n(f"{KGR}link/{local}/{scored.qid}")
        quads.extend(
            [
                Quad(stmt, _n(RDF + "type"), _n(RDF + "Statement"), g),
                Quad(stmt, _n(RDF + "type"), _n(PROV + "Entity"), g),
                Quad(stmt, _n(RDF + "subject"), subj, g),
                Quad(stmt, _n(RDF + "predicate"), _n(SKOS + predicate), g),
                Quad(stmt, _n(RDF + "object"), obj, g),
                Quad(
                    stmt,
                    _n(KGO + "linkScore"),
                    Literal(f"{scored.score:.3f}", datatype=_n(XSD + "decimal")),
                    g,
                ),
                Quad(stmt, _n(KGO + "linkMethod"), Literal(METHOD), g),
                Quad(stmt, _n(RDFS + "comment"), Literal("; ".join(scored.reasons)), g),
                Quad(stmt, _n(PROV + "generatedAtTime"), time, g),
                Quad(stmt, _n(PROV + "wasGeneratedBy"), activity, g),
                Quad(stmt, _n(PROV + "wasDerivedFrom"), obj, g),
            ]
        )

    for d in decisions:
        if d.exact is not None:
            add(d.entity.iri, d.exact, "exactMatch")
        for s in d.close:
            add(d.entity.iri, s, "closeMatch")
    return quads


def write_links(store: Store, quads: list[Quad], path: Path | None) -> None:
    """Replace the links graph in ``store`` and, when ``path`` is given, the links file."""
    store.replace_graph(GRAPH_LINKS, quads)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        triples = sorted(
            (q.triple for q in quads),
            key=lambda t: (str(t.subject), str(t.predicate), str(t.object)),
        )
        body = serialize(
            triples,
            format=RdfFormat.TURTLE,
            prefixes={
                "kgr": KGR,
                "kgo": KGO,
                "wd": WIKIDATA_ENTITY,
                "skos": SKOS,
                "prov": PROV,
                "rdf": RDF,
                "rdfs": RDFS,
                "xsd": XSD,
            },
        )
        header = (
            "# Wikidata links of the knowledge base, written by `kgraph link`.\n"
            f"# Loaded into the named graph <{GRAPH_LINKS}>.\n"
            "# skos:exactMatch = accepted link; skos:closeMatch = candidate for review.\n"
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(header.encode() + body)
        tmp.replace(path)
