"""Candidate Wikidata items for a KB entity: by English label or alias, then by type.

The queries are plain SPARQL 1.1 (no ``wikibase:label`` service, no
Blazegraph hints) so that the same text runs on query.wikidata.org and on a
local stand-in (Oxigraph loaded with the snapshot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kgraph.linking.client import WikidataClient, binding_value
from kgraph.linking.kb import Entity, qid_of

PREFIXES = """PREFIX wd: <http://www.wikidata.org/entity/>
PREFIX wdt: <http://www.wikidata.org/prop/direct/>
PREFIX p: <http://www.wikidata.org/prop/>
PREFIX ps: <http://www.wikidata.org/prop/statement/>
PREFIX pq: <http://www.wikidata.org/prop/qualifier/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
"""

#: Wikidata classes a candidate must be an instance of (directly or via P279*), per kind.
#: IDs confirmed with the search tool; sources in docs/wikidata.md.
KIND_TYPES: dict[str, tuple[str, ...]] = {
    "state": ("Q6256", "Q3624078"),  # country, sovereign state
    "person": ("Q5",),  # human
    "organization": ("Q43229",),  # organization
    "treaty": ("Q131569",),  # treaty
    "war": ("Q198",),  # war
}

#: Properties fetched as context for scoring (both directions for the relational ones).
CONTEXT_PROPERTIES = (
    "P27",
    "P39",
    "P17",
    "P35",
    "P6",
    "P1891",
    "P710",
    "P102",
    "P47",
    "P1001",
)
DATE_PROPERTIES = ("P569", "P570", "P571", "P576", "P580", "P582", "P585")


@dataclass
class Candidate:
    """A Wikidata item that might be the entity, with what was learnt about it."""

    qid: str
    label: str | None = None
    matched: set[str] = field(default_factory=set)  # "label:<name>" / "alias:<name>"
    types: set[str] = field(default_factory=set)  # direct P31 values
    type_ok: bool = False
    related: set[str] = field(default_factory=set)  # QIDs of context statements
    dates: dict[str, set[str]] = field(default_factory=dict)  # property -> ISO dates


#: A trailing parenthesised qualifier: " (United States)".
_QUALIFIER = re.compile(r"\s*\([^()]*\)\s*$")


def name_variants(name: str) -> list[str]:
    """Spellings to look up: as written, straight apostrophes, and hyphen/space swaps.

    Wikidata writes "Kim Jong Un" where the article writes "Kim Jong-un"; an
    exact-literal lookup needs the variants, the scorer then treats them alike.
    A trailing qualifier in parentheses ("Republican Party (United States)") is
    a disambiguation for readers, not part of the name: Wikidata's label leaves
    it out and its description says it instead.
    """
    base = name.replace("\u2019", "'").replace("\u2018", "'").strip()
    out = [name.strip(), base]
    unqualified = _QUALIFIER.sub("", base)
    if unqualified and unqualified != base:
        out.append(unqualified)
        base = unqualified
    if "-" in base:
        out.append(re.sub(r"-(\w)", lambda m: " " + m.group(1).upper(), base))
        out.append(base.replace("-", " "))
    parts = base.split()
    if len(parts) == 3 and "-" not in base:
        out.append(f"{parts[0]} {parts[1]}-{parts[2].lower()}")
    seen: list[str] = []
    for v in out:
        if v and v not in seen:
            seen.append(v)
    return seen


def normalise(name: str) -> str:
    """Case-, hyphen-, apostrophe- and qualifier-insensitive key for comparing names."""
    name = name.replace("\u2019", "'").replace("\u2018", "'").lower()
    name = _QUALIFIER.sub("", name) or name
    return re.sub(r"[\s\-]+", " ", name).strip()


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"@en'


def label_query(names: list[str]) -> str:
    """Items whose English label or alias is one of ``names``, with their P31."""
    values = " ".join(_literal(n) for v in names for n in [v])
    return (
        PREFIXES
        + f"""SELECT DISTINCT ?item ?name ?how ?label ?type WHERE {{
  VALUES ?name {{ {values} }}
  {{ ?item rdfs:label ?name . BIND("label" AS ?how) }}
  UNION {{ ?item skos:altLabel ?name . BIND("alias" AS ?how) }}
  FILTER(STRSTARTS(STR(?item), "http://www.wikidata.org/entity/Q"))
  OPTIONAL {{ ?item rdfs:label ?label . FILTER(LANG(?label) = "en") }}
  OPTIONAL {{ ?item wdt:P31 ?type }}
}}"""
    )


def type_query(qids: list[str], classes: tuple[str, ...]) -> str:
    """Which of ``qids`` are instances of one of ``classes`` (P31/P279*)."""
    items = " ".join(f"wd:{q}" for q in qids)
    cls = " ".join(f"wd:{c}" for c in classes)
    return (
        PREFIXES
        + f"""SELECT DISTINCT ?item WHERE {{
  VALUES ?item {{ {items} }}
  VALUES ?class {{ {cls} }}
  ?item wdt:P31/wdt:P279* ?class .
}}"""
    )


def context_query(qids: list[str]) -> str:
    """Context statements of ``qids``: relations (both ways) and dates."""
    items = " ".join(f"wd:{q}" for q in qids)
    rel = " ".join(f"wdt:{p}" for p in CONTEXT_PROPERTIES)
    dates = " ".join(f"wdt:{p}" for p in DATE_PROPERTIES)
    return (
        PREFIXES
        + f"""SELECT DISTINCT ?item ?prop ?value ?dir WHERE {{
  VALUES ?item {{ {items} }}
  {{ VALUES ?prop {{ {rel} {dates} }} ?item ?prop ?value . BIND("out" AS ?dir) }}
  UNION
  {{ VALUES ?prop {{ {rel} }} ?value ?prop ?item . BIND("in" AS ?dir) }}
}}"""
    )


def fetch_candidates(client: WikidataClient, entity: Entity) -> list[Candidate]:
    """Candidates for ``entity`` with types checked and context fetched."""
    names = [v for n in entity.names() for v in name_variants(n)]
    names = list(dict.fromkeys(names))
    found: dict[str, Candidate] = {}
    for row in client.select(label_query(names)):
        qid = qid_of(binding_value(row, "item") or "")
        if qid is None:
            continue
        cand = found.setdefault(qid, Candidate(qid=qid))
        cand.label = cand.label or binding_value(row, "label")
        cand.matched.add(f"{binding_value(row, 'how')}:{binding_value(row, 'name')}")
        type_qid = qid_of(binding_value(row, "type") or "")
        if type_qid:
            cand.types.add(type_qid)
    if not found:
        return []
    classes = KIND_TYPES.get(entity.kind, ())
    qids = sorted(found)
    if classes:
        ok = {
            qid_of(binding_value(r, "item") or "") for r in client.select(type_query(qids, classes))
        }
        for qid, cand in found.items():
            cand.type_ok = qid in ok or bool(cand.types & set(classes))
    for row in client.select(context_query(qids)):
        qid = qid_of(binding_value(row, "item") or "")
        prop = (binding_value(row, "prop") or "").rsplit("/", 1)[-1]
        value = binding_value(row, "value") or ""
        if qid not in found:
            continue
        if prop in DATE_PROPERTIES and binding_value(row, "dir") == "out":
            found[qid].dates.setdefault(prop, set()).add(value[:10].lstrip("+"))
        else:
            other = qid_of(value)
            if other:
                found[qid].related.add(other)
    return [found[q] for q in qids]
