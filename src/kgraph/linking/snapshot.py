"""The offline Wikidata snapshot: build it, refresh it from an endpoint, load it.

``data/wikidata/snapshot.ttl`` holds Wikidata's own RDF (``wd:``/``wdt:``/
``p:``/``ps:``/``pq:`` terms, English labels and aliases) for the linked items;
``snapshot.meta.json`` says when and how it was obtained and, for the
hand-confirmed build, where every value was confirmed. It is loaded into the
named graph ``https://w3id.org/kgraph/graph/wikidata`` with the retrieval date
as ``prov:generatedAtTime`` on the graph IRI, so a query can tell how old its
Wikidata answers are.

Two ways to build it:

* :func:`build_from_confirmed` turns ``data/wikidata/confirmed.yaml`` (values
  confirmed one by one from public copies of Wikidata data, each with its
  source) into the snapshot. This is how the shipped snapshot was made: the
  build machine has no internet access.
* :func:`refresh_snapshot` (``kgraph link --refresh``) asks an endpoint with
  :func:`snapshot_query` and replaces the snapshot with its answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pyoxigraph import BlankNode, Literal, NamedNode, Quad, RdfFormat, Triple, serialize

from kgraph import resources
from kgraph.linking.client import WikidataClient
from kgraph.linking.links import GRAPH_LINKS
from kgraph.namespaces import (
    GRAPH_WIKIDATA,
    PROV,
    RDFS,
    SKOS,
    WIKIDATA_ENDPOINT,
    WIKIDATA_ENTITY,
    XSD,
)
from kgraph.rdf import parse_rdf
from kgraph.store.base import Store

#: The snapshot and links (kgraph.resources: the package's own, or KGRAPH_DATA_DIR's).
WIKIDATA_DIR = resources.data_dir() / "wikidata"
SNAPSHOT_PATH = WIKIDATA_DIR / "snapshot.ttl"
META_PATH = WIKIDATA_DIR / "snapshot.meta.json"
LINKS_PATH = WIKIDATA_DIR / "links.ttl"
CONFIRMED_PATH = WIKIDATA_DIR / "confirmed.yaml"

WD = WIKIDATA_ENTITY
WDT = "http://www.wikidata.org/prop/direct/"
P = "http://www.wikidata.org/prop/"
PS = "http://www.wikidata.org/prop/statement/"
PQ = "http://www.wikidata.org/prop/qualifier/"

#: Direct properties the snapshot keeps (issue 5): item-valued and date-valued. P47 and P102
#: are kept too because scoring uses them as context (a refresh must not drop them).
ITEM_PROPERTIES = ("P31", "P17", "P27", "P35", "P6", "P1891", "P710", "P47", "P102")
DATE_PROPERTIES = ("P569", "P571", "P580", "P582", "P585")
TURTLE_PREFIXES = {
    "wd": WD,
    "wdt": WDT,
    "p": P,
    "ps": PS,
    "pq": PQ,
    "rdfs": RDFS,
    "skos": SKOS,
    "xsd": XSD,
}


def snapshot_query(qids: list[str]) -> str:
    """CONSTRUCT the snapshot's statements for ``qids`` (runs on WDQS and Oxigraph)."""
    items = " ".join(f"wd:{q}" for q in sorted(set(qids), key=lambda q: int(q[1:])))
    props = " ".join(f"wdt:{p}" for p in (*ITEM_PROPERTIES, "P39", *DATE_PROPERTIES))
    labelled = " ".join(f"wdt:{p}" for p in ITEM_PROPERTIES if p != "P31")
    return f"""PREFIX wd: <{WD}>
PREFIX wdt: <{WDT}>
PREFIX p: <{P}>
PREFIX ps: <{PS}>
PREFIX pq: <{PQ}>
PREFIX rdfs: <{RDFS}>
PREFIX skos: <{SKOS}>
CONSTRUCT {{
  ?item rdfs:label ?label .
  ?item skos:altLabel ?alias .
  ?item ?prop ?value .
  ?value rdfs:label ?valueLabel .
  ?item p:P39 ?st . ?st ps:P39 ?position ; pq:P580 ?start ; pq:P582 ?end .
  ?position rdfs:label ?positionLabel .
}} WHERE {{
  VALUES ?item {{ {items} }}
  {{ ?item rdfs:label ?label . FILTER(LANG(?label) = "en") }}
  UNION {{ ?item skos:altLabel ?alias . FILTER(LANG(?alias) = "en") }}
  UNION {{ VALUES ?prop {{ {props} }} ?item ?prop ?value . }}
  UNION {{ VALUES ?prop {{ {labelled} }} ?item ?prop ?value .
          ?value rdfs:label ?valueLabel . FILTER(LANG(?valueLabel) = "en") }}
  UNION {{ ?item p:P39 ?st . ?st ps:P39 ?position .
          OPTIONAL {{ ?st pq:P580 ?start }} OPTIONAL {{ ?st pq:P582 ?end }}
          OPTIONAL {{ ?position rdfs:label ?positionLabel . FILTER(LANG(?positionLabel) = "en") }} }}
}}"""


# -- building from confirmed values ------------------------------------------------
def _date(value: str) -> Literal:
    """Wikidata writes dates as xsd:dateTime at midnight UTC."""
    value = str(value)
    if len(value) == 4:
        value += "-01-01"
    return Literal(f"{value}T00:00:00Z", datatype=NamedNode(XSD + "dateTime"))


def _value(prop: str, value: Any) -> NamedNode | Literal:
    if prop in DATE_PROPERTIES or prop in ("P570", "P576"):
        return _date(value)
    return NamedNode(WD + str(value))


def build_from_confirmed(confirmed: dict[str, Any]) -> tuple[list[Triple], dict[str, Any]]:
    """Triples and metadata for a snapshot from the confirmed-values document.

    Each item of ``confirmed["items"]`` has ``label``, optional ``aliases``,
    ``claims: {P31: [..]}``, optional ``positions: [{position, start, end}]``
    and ``sources`` (where each value was confirmed). Nothing is added that the
    document does not state.
    """
    triples: list[Triple] = []
    meta_items: dict[str, Any] = {}
    for qid, item in confirmed["items"].items():
        s = NamedNode(WD + qid)
        if item.get("label"):
            triples.append(
                Triple(s, NamedNode(RDFS + "label"), Literal(item["label"], language="en"))
            )
        for alias in item.get("aliases", []) or []:
            triples.append(Triple(s, NamedNode(SKOS + "altLabel"), Literal(alias, language="en")))
        for prop, values in (item.get("claims") or {}).items():
            for v in values if isinstance(values, list) else [values]:
                triples.append(Triple(s, NamedNode(WDT + prop), _value(prop, v)))
        for i, pos in enumerate(item.get("positions", []) or []):
            st = BlankNode(f"{qid}P39s{i}")
            position = NamedNode(WD + pos["position"])
            triples.append(Triple(s, NamedNode(P + "P39"), st))
            triples.append(Triple(st, NamedNode(PS + "P39"), position))
            triples.append(Triple(s, NamedNode(WDT + "P39"), position))
            if pos.get("start"):
                triples.append(Triple(st, NamedNode(PQ + "P580"), _date(pos["start"])))
            if pos.get("end"):
                triples.append(Triple(st, NamedNode(PQ + "P582"), _date(pos["end"])))
        meta_items[qid] = {
            "label": item.get("label"),
            "kb": item.get("kb"),
            "sources": item.get("sources", []),
        }
    meta = {
        "retrieved": str(confirmed["retrieved"]),
        "method": "confirmed",
        "endpoint": None,
        "query": snapshot_query(list(confirmed["items"])),
        "note": confirmed.get("note", ""),
        "items": meta_items,
    }
    return triples, meta


def write_snapshot(
    triples: list[Triple],
    meta: dict[str, Any],
    path: Path = SNAPSHOT_PATH,
    meta_path: Path = META_PATH,
) -> None:
    """Write the snapshot (sorted Turtle) and its metadata (JSON) atomically."""
    ordered = sorted(triples, key=lambda t: (str(t.subject), str(t.predicate), str(t.object)))
    body = serialize(ordered, format=RdfFormat.TURTLE, prefixes=TURTLE_PREFIXES)
    header = (
        f"# Wikidata snapshot for kgraph, retrieved {meta['retrieved']} ({meta['method']}).\n"
        "# Provenance per item: snapshot.meta.json. Loaded into "
        f"<{GRAPH_WIKIDATA}>.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    for target, data in (
        (path, header.encode() + body),
        (meta_path, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode()),
    ):
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)


def build_snapshot(
    confirmed_path: Path = CONFIRMED_PATH, path: Path = SNAPSHOT_PATH, meta_path: Path = META_PATH
) -> int:
    """Rebuild the shipped snapshot from ``confirmed.yaml``; returns the triple count."""
    confirmed = yaml.safe_load(confirmed_path.read_text("utf-8"))
    triples, meta = build_from_confirmed(confirmed)
    write_snapshot(triples, meta, path, meta_path)
    return len(triples)


# -- refreshing from an endpoint ---------------------------------------------------
def refresh_snapshot(
    client: WikidataClient, qids: list[str], path: Path = SNAPSHOT_PATH, meta_path: Path = META_PATH
) -> int:
    """Replace the snapshot with the endpoint's answer for ``qids``; returns the triple count.

    The endpoint is asked first and the answer parsed completely before any file
    is touched, so a failing endpoint leaves the old snapshot in place.
    """
    if not qids:
        raise ValueError("no linked items to snapshot")
    query = snapshot_query(qids)
    cache_dir, client.cache_dir = client.cache_dir, None  # a refresh must not read the cache
    try:
        body = client.construct(query)
    finally:
        client.cache_dir = cache_dir
    triples = [Triple(q.subject, q.predicate, q.object) for q in parse_rdf(body, "text/turtle")]
    meta = {
        "retrieved": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": "endpoint",
        "endpoint": client.endpoint,
        "query": query,
        "note": "Refreshed by `kgraph link --refresh`; every value comes from the endpoint above.",
        "items": {q: {"sources": [f"{client.endpoint} (snapshot query)"]} for q in sorted(qids)},
    }
    write_snapshot(triples, meta, path, meta_path)
    return len(triples)


def snapshot_qids(meta_path: Path = META_PATH) -> list[str]:
    """The items the current snapshot covers."""
    if not meta_path.exists():
        return []
    return list(json.loads(meta_path.read_text("utf-8")).get("items", {}))


# -- loading -------------------------------------------------------------------------
def load_snapshot(store: Store, path: Path | str | None = None) -> int:
    """Load the snapshot into its named graph (replacing it); returns the quad count.

    The graph IRI gets ``prov:generatedAtTime`` (the retrieval date) and
    ``prov:wasDerivedFrom <https://query.wikidata.org/sparql>``.
    """
    path = Path(path) if path is not None else SNAPSHOT_PATH
    meta_path = path.with_name(path.stem + ".meta.json")
    g = NamedNode(GRAPH_WIKIDATA)
    quads = parse_rdf(path.read_bytes(), "text/turtle", graph=GRAPH_WIKIDATA)
    if meta_path.exists():
        meta = json.loads(meta_path.read_text("utf-8"))
        retrieved = str(meta["retrieved"])
        if "T" not in retrieved:
            retrieved += "T00:00:00Z"
        quads.append(
            Quad(
                g,
                NamedNode(PROV + "generatedAtTime"),
                Literal(retrieved, datatype=NamedNode(XSD + "dateTime")),
                g,
            )
        )
        quads.append(
            Quad(
                g,
                NamedNode(PROV + "wasDerivedFrom"),
                NamedNode(meta.get("endpoint") or WIKIDATA_ENDPOINT),
                g,
            )
        )
    store.replace_graph(GRAPH_WIKIDATA, quads)
    return len(quads)


def load_links(store: Store, path: Path | str | None = None) -> int:
    """Load ``links.ttl`` into the links graph (replacing it); 0 when there is no file."""
    path = Path(path) if path is not None else LINKS_PATH
    if not path.exists():
        return 0
    quads = parse_rdf(path.read_bytes(), "text/turtle", graph=GRAPH_LINKS)
    store.replace_graph(GRAPH_LINKS, quads)
    return len(quads)


def load_wikidata(store: Store, directory: Path | str | None = None) -> int:
    """Load the snapshot and the links file from ``directory`` (default data/wikidata)."""
    d = Path(directory) if directory is not None else WIKIDATA_DIR
    n = 0
    if (d / "snapshot.ttl").exists():
        n += load_snapshot(store, d / "snapshot.ttl")
    n += load_links(store, d / "links.ttl")
    return n
