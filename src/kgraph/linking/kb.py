"""The knowledge-base side of linking: which entities to link, and their context.

An entity's *kind* (state, person, organization, treaty, war) decides which
Wikidata classes a candidate must belong to; its *context* (the entities it
co-occurs with in the article's facts, and the dates on those facts) is what
tells two people called Kim apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kgraph.namespaces import GRAPH_SOURCE, KGO, KGR, SKOS, WIKIDATA_ENTITY
from kgraph.store.base import SelectResult, Store

#: KB classes (local names in ``kgo:``) -> linking kind; subclasses inherit the kind.
KIND_CLASSES: dict[str, str] = {
    "State": "state",
    "Country": "state",
    "Person": "person",
    "Organization": "organization",
    "Organisation": "organization",
    "PoliticalParty": "organization",
    "Treaty": "treaty",
    "Agreement": "treaty",
    "War": "war",
    "ArmedConflict": "war",
}


@dataclass
class Entity:
    """One KB resource to link."""

    iri: str
    kind: str
    label: str
    alt_labels: list[str] = field(default_factory=list)
    #: Wikidata QIDs asserted by the source (``skos:exactMatch`` outside the links graph).
    asserted: list[str] = field(default_factory=list)
    #: KB resources this one shares a fact with.
    related: set[str] = field(default_factory=set)
    #: ISO dates (or years) on this entity's facts.
    dates: set[str] = field(default_factory=set)

    @property
    def curie(self) -> str:
        return "kgr:" + self.iri[len(KGR) :] if self.iri.startswith(KGR) else f"<{self.iri}>"

    def names(self) -> list[str]:
        """Label first, then alternative labels, without duplicates."""
        seen: list[str] = []
        for name in [self.label, *self.alt_labels]:
            if name and name not in seen:
                seen.append(name)
        return seen


def _rows(store: Store, sparql: str) -> list[dict[str, str]]:
    result = store.query(sparql)
    assert isinstance(result, SelectResult)
    out = []
    for row in result.rows:
        out.append(
            {
                v: (None if t is None else t.value)
                for v, t in zip(result.variables, row, strict=False)
            }
        )
    return out


def qid_of(iri: str) -> str | None:
    """``Q148`` for ``http://www.wikidata.org/entity/Q148``, else ``None``."""
    if iri.startswith(WIKIDATA_ENTITY):
        local = iri[len(WIKIDATA_ENTITY) :]
        if re.fullmatch(r"Q[1-9][0-9]*", local):
            return local
    return None


def kb_entities(store: Store, links_graph: str) -> list[Entity]:
    """Every state, person, organization, treaty and war of the knowledge base."""
    values = " ".join(f"<{KGO}{name}>" for name in KIND_CLASSES)
    rows = _rows(
        store,
        f"""
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        SELECT DISTINCT ?e ?cls WHERE {{
          VALUES ?cls {{ {values} }}
          ?e a ?t . ?t rdfs:subClassOf* ?cls .
          FILTER(STRSTARTS(STR(?e), "{KGR}"))
        }}""",
    )
    kinds: dict[str, str] = {}
    order = list(KIND_CLASSES)
    for row in sorted(rows, key=lambda r: order.index(r["cls"][len(KGO) :])):
        kinds.setdefault(row["e"], KIND_CLASSES[row["cls"][len(KGO) :]])
    entities: dict[str, Entity] = {}
    for iri, kind in kinds.items():
        entities[iri] = Entity(iri=iri, kind=kind, label="")
    if not entities:
        return []
    subjects = " ".join(f"<{iri}>" for iri in entities)
    for row in _rows(
        store,
        f"""
        PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
        PREFIX skos: <{SKOS}>
        SELECT ?e ?p ?name WHERE {{
          VALUES ?e {{ {subjects} }}
          VALUES ?p {{ rdfs:label skos:altLabel skos:prefLabel }}
          ?e ?p ?name .
          FILTER(LANG(?name) = "" || LANGMATCHES(LANG(?name), "en"))
        }} ORDER BY ?e ?p ?name""",
    ):
        ent = entities[row["e"]]
        if row["p"].endswith("altLabel"):
            if row["name"] not in ent.alt_labels:
                ent.alt_labels.append(row["name"])
        elif not ent.label:
            ent.label = row["name"]
    for row in _rows(
        store,
        f"""
        PREFIX skos: <{SKOS}>
        SELECT DISTINCT ?e ?wd WHERE {{
          VALUES ?e {{ {subjects} }}
          GRAPH ?g {{ ?e skos:exactMatch ?wd }}
          FILTER(?g != <{links_graph}>)
        }}""",
    ):
        qid = qid_of(row["wd"])
        if qid and qid not in entities[row["e"]].asserted:
            entities[row["e"]].asserted.append(qid)
    # Co-occurrence and dates, from the source graphs only (not from links or inferences).
    for row in _rows(
        store,
        f"""
        PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
        SELECT DISTINCT ?e ?o WHERE {{
          VALUES ?e {{ {subjects} }}
          GRAPH ?g {{ {{ ?e ?p ?o }} UNION {{ ?o ?p ?e }} }}
          FILTER(STRSTARTS(STR(?g), "{GRAPH_SOURCE}"))
          FILTER(?p != rdf:type)
        }}""",
    ):
        _add_context(entities[row["e"]], row["o"], entities)
    # Entities that share an intermediate node (a role assignment, an event, a reified fact).
    for row in _rows(
        store,
        f"""
        PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
        SELECT DISTINCT ?e ?o WHERE {{
          VALUES ?e {{ {subjects} }}
          GRAPH ?g {{ ?x ?p1 ?e . ?x ?p2 ?o . }}
          FILTER(STRSTARTS(STR(?g), "{GRAPH_SOURCE}"))
          FILTER(isIRI(?o) || DATATYPE(?o) IN (xsd:date, xsd:gYear))
        }}""",
    ):
        _add_context(entities[row["e"]], row["o"], entities)
    # Reified facts (rdf:subject/rdf:object) connect entities that share a fact statement.
    for row in _rows(
        store,
        f"""
        PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
        SELECT DISTINCT ?s ?o WHERE {{
          ?f rdf:subject ?s ; rdf:object ?o .
          VALUES ?s {{ {subjects} }}
        }}""",
    ):
        if row["o"] in entities and row["o"] != row["s"]:
            entities[row["o"]].related.add(row["s"])
        _add_context(entities[row["s"]], row["o"], entities)
    for ent in entities.values():
        if not ent.label:
            ent.label = ent.iri.rsplit("/", 1)[-1]
    return sorted(entities.values(), key=lambda e: (list(KIND_ORDER).index(e.kind), e.iri))


def _add_context(ent: Entity, other: str | None, entities: dict[str, Entity]) -> None:
    """Record ``other`` as a related entity of ``ent``, or as one of its dates."""
    if other in entities and other != ent.iri:
        ent.related.add(other)
    elif re.fullmatch(r"-?\d{4}(-\d\d(-\d\d)?)?", other or ""):
        ent.dates.add(other)  # type: ignore[arg-type]


KIND_ORDER = {"state": 0, "organization": 1, "person": 2, "treaty": 3, "war": 4}


def reference_date(store: Store) -> str | None:
    """The newest ``dcterms:issued`` of the source documents: candidates must fit before it."""
    rows = _rows(
        store,
        """
        PREFIX dcterms: <http://purl.org/dc/terms/>
        SELECT (MAX(STR(?d)) AS ?date) WHERE { ?doc dcterms:issued ?d }""",
    )
    return rows[0]["date"] if rows and rows[0].get("date") else None


def related_qids(entity: Entity, links: dict[str, str]) -> set[str]:
    """QIDs of the entity's co-occurring resources, as far as they are linked."""
    return {links[r] for r in entity.related if r in links}


__all__ = ["Entity", "kb_entities", "qid_of", "reference_date", "related_qids"]
