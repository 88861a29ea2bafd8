"""Dereferenceable IRIs: ``/resource/NAME`` and ``/ontology``, as HTML or RDF.

``https://w3id.org/kgraph/resource/NAME`` is answered at ``/resource/NAME`` and the
ontology namespace ``https://w3id.org/kgraph/ontology#`` at ``/ontology``. One URL
serves every representation, chosen by the ``Accept`` header (or ``?format=``),
directly with ``200``, ``Vary: Accept`` and a ``Content-Location`` naming the
representation's own URL (``?format=ttl``...), plus ``Link: rel="alternate"`` for
the others. No 303: a Linked Data client (rdflib's ``Graph().parse(url)``, a browser)
gets its document in one round trip. docs/web.md explains the choice.

Everything is read through the store interface with bounded queries; nothing is kept
on the side. An entity's description is its triples in every named graph (the
article's source graph, the Wikidata links, the inferred graph), the ``kgo:Fact``
records of its statements with their quotes and selectors, and its mentions.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, current_app, render_template, request
from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Quad, Triple

from ..namespaces import (
    DOCUMENT,
    GRAPH_INFERRED,
    GRAPH_ONTOLOGY,
    GRAPH_WIKIDATA,
    KGO,
    KGR,
    OA,
    ONTOLOGY_IRI,
    OWL,
    PREFIXES,
    PROV,
    RDF,
    RDFS,
    SKOS,
    WIKIDATA_ENTITY,
    XSD,
)
from ..sparql.conneg import negotiate
from ..store.base import SelectResult
from ..store.results import GRAPH_FORMATS, ResultFormat, stream_rdf

bp = Blueprint("linked_data", __name__)

HTML = "text/html"
#: RDF representations: the SPARQL endpoint's graph formats, plus two that keep graph names.
QUAD_FORMATS = [
    ResultFormat("application/trig", ("trig",)),
    ResultFormat("application/n-quads", ("nquads", "nq", "n-quads")),
]
RDF_FORMATS = GRAPH_FORMATS + QUAD_FORMATS
#: Short ``format=`` name of each representation (``Content-Location`` and links).
SHORT = {"text/turtle": "ttl", "application/n-triples": "nt", "application/rdf+xml": "rdf",
         "application/ld+json": "jsonld", "application/trig": "trig",
         "application/n-quads": "nq", HTML: "html"}
#: Offer order: RDF before HTML, so ``*/*`` (curl, rdflib) gets Turtle; a browser lists
#: ``text/html`` at a higher quality than ``*/*`` and gets the page.
OFFERS = ["text/turtle", HTML, "application/ld+json", "application/rdf+xml",
          "application/n-triples", "application/trig", "application/n-quads",
          "application/xhtml+xml"] + [a for f in RDF_FORMATS for a in f.aliases]
#: Most rows read for one entity or for the ontology (bounded queries).
MAX_ROWS = 20_000
#: Most values an entity page lists for one property (a document is the source of every
#: fact drawn from it: the rest are one query away in the editor).
PER_PROPERTY = 50
#: Characters that cannot occur in an IRI (RFC 3987): such a name is no resource of ours.
_NOT_IRI = re.compile(r'[\x00-\x20<>"{}|\\^`\x7f]')
#: Characters left as they are in the path of a resource URL.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"

RDF_TYPE = RDF + "type"
RDFS_LABEL = RDFS + "label"
HIDDEN_IN = {RDF + "subject", RDF + "object"}  # a kgo:Fact pointing at the entity
LINK_PROPS = {SKOS + "exactMatch": "exact match", SKOS + "closeMatch": "candidate (close match)",
              OWL + "sameAs": "same as"}
DESCRIPTION_PROPS = (SKOS + "definition", RDFS + "comment", PREFIXES["dcterms"] + "description")


# -- talking to the store ------------------------------------------------------------------

def kgraph():  # type: ignore[no-untyped-def]
    """The app's :class:`~kgraph.web.KGraph` (store, settings, gate)."""
    return current_app.extensions["kgraph"]


def select(sparql: str) -> list[tuple[object, ...]]:
    """The rows of a SELECT query on the app's store, read whole, within the time limit."""
    kg = kgraph()
    result = kg.store.query(sparql, timeout_s=kg.settings.query_timeout_s)
    if not isinstance(result, SelectResult):  # pragma: no cover - only SELECT is sent
        raise TypeError("expected solutions")
    return [tuple(row) for row in result.rows]


def read_slot():  # type: ignore[no-untyped-def]
    """An evaluation slot: a page's queries wait their turn like a SPARQL query."""
    return kgraph().enter()


def iri_ok(iri: str) -> bool:
    """Whether ``iri`` can be written ``<iri>`` in a query (and so may name a resource)."""
    return bool(iri) and not _NOT_IRI.search(iri)


# -- terms for templates ---------------------------------------------------------------------

def resource_path(iri: str) -> str | None:
    """This server's URL path for one of our IRIs (``None`` for others)."""
    if iri.startswith(KGR) and len(iri) > len(KGR):
        return "/resource/" + quote(iri[len(KGR):], safe=_PATH_SAFE)
    if iri.startswith(KGO):
        return "/ontology#" + iri[len(KGO):]
    if iri == ONTOLOGY_IRI:
        return "/ontology"
    return None


def href(iri: str) -> str | None:
    """Where a link to ``iri`` goes: our page for our IRIs, else the IRI if it is http(s)."""
    local = resource_path(iri)
    if local is not None:
        return request.script_root + local
    return iri if iri.startswith(("http://", "https://")) else None


def short(iri: str) -> str:
    """A CURIE for a known namespace (``kgr:claim/x`` included), else the IRI."""
    best = None
    for prefix, ns in PREFIXES.items():
        if iri.startswith(ns) and len(iri) > len(ns) and (best is None or len(ns) > len(best[1])):
            best = (prefix, ns)
    if best and not any(c in iri[len(best[1]):] for c in " #?"):
        return f"{best[0]}:{iri[len(best[1]):]}"
    return iri


def nt_object(term: object) -> str:
    """A term as ``/reason/explain`` takes it: an IRI, or an N-Triples literal."""
    return term.value if isinstance(term, NamedNode) else str(term)


@dataclass
class Labels:
    """Preferred labels of IRIs (English or untagged first), looked up in one query."""

    by_iri: dict[str, str] = field(default_factory=dict)

    @classmethod
    def lookup(cls, iris: Iterable[str]) -> Labels:
        wanted = sorted({i for i in iris if iri_ok(i)})
        out: dict[str, tuple[int, str]] = {}
        for start in range(0, len(wanted), 400):
            values = " ".join(f"<{i}>" for i in wanted[start:start + 400])
            rows = select(f"SELECT ?x ?l WHERE {{ VALUES ?x {{ {values} }} "
                          f"?x <{RDFS_LABEL}>|<{SKOS}prefLabel> ?l }} LIMIT {MAX_ROWS}")
            for x, label in rows:
                if not isinstance(label, Literal):
                    continue
                rank = 0 if label.language in (None, "", "en") else 1
                prev = out.get(x.value)  # type: ignore[union-attr]
                if prev is None or (rank, label.value) < prev:
                    out[x.value] = (rank, label.value)  # type: ignore[union-attr]
        return cls({k: v[1] for k, v in out.items()})

    def get(self, iri: str) -> str | None:
        return self.by_iri.get(iri)


def view_term(term: object, labels: Labels) -> dict[str, object]:
    """What a template needs to show one term: text, link, datatype or language."""
    if isinstance(term, NamedNode):
        iri = term.value
        return {"kind": "iri", "iri": iri, "href": href(iri), "short": short(iri),
                "label": labels.get(iri)}
    if isinstance(term, Literal):
        dt = term.datatype.value if term.datatype else None
        shown_dt = None if dt in (XSD + "string", RDF + "langString", None) else short(dt)
        return {"kind": "literal", "value": term.value, "lang": term.language,
                "datatype": shown_dt}
    if isinstance(term, BlankNode):
        return {"kind": "bnode", "value": f"_:{term.value}"}
    return {"kind": "literal", "value": str(term), "lang": None, "datatype": None}


# -- an entity's description -----------------------------------------------------------------

def description_query(iri: str) -> str:
    """Every quad about ``iri`` a description carries, in one bounded query.

    Its triples both ways in every named graph (and those only in the store's own default
    graph, ``?g`` unbound), the ``kgo:Fact`` records of those statements, the quotes that
    evidence them or mention ``iri``, and the quotes' selectors. Inferred triples whose
    object is a blank node (anonymous OWL classes) are left out: they say nothing alone.
    """
    e = f"<{iri}>"
    fact_of = f"?f <{RDF}subject>|<{RDF}object> {e}"
    return f"""SELECT ?g ?s ?p ?o WHERE {{
  {{ GRAPH ?g {{ {e} ?p ?o }} BIND({e} AS ?s)
     FILTER(!(isBlank(?o) && ?g = <{GRAPH_INFERRED}>)) }}
  UNION {{ GRAPH ?g {{ ?s ?p {e} }} BIND({e} AS ?o) }}
  UNION {{ {e} ?p ?o BIND({e} AS ?s) FILTER NOT EXISTS {{ GRAPH ?gx {{ {e} ?p ?o }} }} }}
  UNION {{ ?s ?p {e} BIND({e} AS ?o) FILTER NOT EXISTS {{ GRAPH ?gx {{ ?s ?p {e} }} }} }}
  UNION {{ GRAPH ?g {{ {fact_of} . ?f ?p ?o }} BIND(?f AS ?s) }}
  UNION {{ GRAPH ?g {{ {fact_of} . ?f <{KGO}hasEvidence> ?s . ?s ?p ?o }} }}
  UNION {{ GRAPH ?g {{ {fact_of} . ?f <{KGO}hasEvidence> ?q . ?q <{OA}hasSelector> ?s .
                      ?s ?p ?o }} }}
  UNION {{ GRAPH ?g {{ {e} <{KGO}hasMention> ?s . ?s ?p ?o }} }}
  UNION {{ GRAPH ?g {{ {e} <{KGO}hasMention> ?q . ?q <{OA}hasSelector> ?s . ?s ?p ?o }} }}
}} LIMIT {MAX_ROWS}"""


def describe(iri: str) -> tuple[list[Quad], bool]:
    """The quads of ``iri``'s description (see :func:`description_query`), without
    repeats, and whether the query's row limit cut it short."""
    seen: set[Quad] = set()
    out: list[Quad] = []
    rows = select(description_query(iri))
    for g, s, p, o in rows:
        graph = g if isinstance(g, NamedNode) else DefaultGraph()
        q = Quad(s, p, o, graph)  # type: ignore[arg-type]
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out, len(rows) >= MAX_ROWS


@dataclass
class QuoteRef:
    """A quote of a source document: its words and where they are."""

    iri: str
    doc: str | None
    exact: str | None
    start: int | None
    end: int | None

    @property
    def article_href(self) -> str | None:
        """The quote's place in the article page (highlighted there)."""
        if not self.doc or not self.doc.startswith(DOCUMENT) or self.start is None:
            return None
        doc_id = quote(self.doc[len(DOCUMENT):], safe="")
        return f"{request.script_root}/article/{doc_id}#q-{self.start}-{self.end}"


def _quotes(quads: Sequence[Quad]) -> dict[str, QuoteRef]:
    """Quotes (``oa:hasSource``) of a description with their selectors' words and offsets."""
    by_subject: dict[object, dict[str, list[object]]] = defaultdict(lambda: defaultdict(list))
    for q in quads:
        by_subject[q.subject][q.predicate.value].append(q.object)
    out: dict[str, QuoteRef] = {}
    for node, props in by_subject.items():
        if OA + "hasSource" not in props or not isinstance(node, NamedNode):
            continue
        ref = QuoteRef(node.value, props[OA + "hasSource"][0].value, None, None, None)  # type: ignore[attr-defined]
        for sel in props.get(OA + "hasSelector", []):
            sp = by_subject.get(sel, {})
            if sp.get(OA + "exact"):
                ref.exact = sp[OA + "exact"][0].value  # type: ignore[attr-defined]
            for key in ("start", "end"):
                if sp.get(OA + key) and sp[OA + key][0].value.isdigit():  # type: ignore[attr-defined]
                    setattr(ref, key, int(sp[OA + key][0].value))  # type: ignore[attr-defined]
        out[node.value] = ref
    return out


@dataclass
class Statement:
    """One triple about the entity, with where it is stated and why it holds."""

    s: object
    p: NamedNode
    o: object
    graphs: set[str]
    facts: list[dict[str, object]] = field(default_factory=list)

    @property
    def inferred(self) -> bool:
        """Only in the inferred graph: the reasoner concluded it, nobody stated it."""
        return self.graphs == {GRAPH_INFERRED}


def _graph_name(g: object) -> str:
    return g.value if isinstance(g, NamedNode) else ""


def entity_view(iri: str, quads: Sequence[Quad]) -> dict[str, object]:
    """Everything the entity page shows, from a description and a few small lookups."""
    quotes = _quotes(quads)
    stmts: dict[Triple, Statement] = {}
    facts: dict[object, dict[str, list[object]]] = defaultdict(lambda: defaultdict(list))
    fact_nodes: set[object] = set()
    for q in quads:
        if q.predicate.value == RDF + "subject" and q.object == NamedNode(iri) \
                or q.predicate.value == RDF + "object" and q.object == NamedNode(iri):
            fact_nodes.add(q.subject)
    for q in quads:
        if q.subject in fact_nodes:
            facts[q.subject][q.predicate.value].append(q.object)
    for q in quads:
        about = q.subject == NamedNode(iri) or q.object == NamedNode(iri)
        if not about or (q.object == NamedNode(iri) and q.predicate.value in HIDDEN_IN
                         and q.subject != NamedNode(iri)):
            continue
        t = Triple(q.subject, q.predicate, q.object)
        st = stmts.get(t)
        if st is None:
            st = stmts[t] = Statement(q.subject, q.predicate, q.object, set())
        st.graphs.add(_graph_name(q.graph_name))
    # the kgo:Fact records (and Wikidata link records) behind each statement
    for f, props in facts.items():
        try:
            t = Triple(props[RDF + "subject"][0], props[RDF + "predicate"][0],  # type: ignore[arg-type]
                       props[RDF + "object"][0])
        except (IndexError, KeyError, TypeError):
            continue
        st = stmts.get(t)
        if st is None:
            continue
        entry: dict[str, object] = {
            "iri": f.value if isinstance(f, NamedNode) else str(f),
            "quotes": sorted((quotes[x.value] for x in props.get(KGO + "hasEvidence", [])  # type: ignore[attr-defined]
                              if getattr(x, "value", None) in quotes),
                             key=lambda r: (r.start or 0, r.iri)),
            "derived_from": sorted(x.value for x in props.get(PROV + "wasDerivedFrom", [])  # type: ignore[attr-defined]
                                   if isinstance(x, NamedNode)),
        }
        for key, prop in (("derivation", KGO + "derivation"), ("score", KGO + "linkScore"),
                          ("method", KGO + "linkMethod"), ("why", RDFS + "comment")):
            if props.get(prop):
                entry[key] = props[prop][0].value  # type: ignore[attr-defined]
        st.facts.append(entry)
    me = NamedNode(iri)
    mentions = sorted((quotes[q.object.value] for q in quads  # type: ignore[union-attr]
                       if q.subject == me and q.predicate.value == KGO + "hasMention"
                       and getattr(q.object, "value", None) in quotes),
                      key=lambda r: (r.start or 0, r.iri))
    mentions = list({m.iri: m for m in mentions}.values())

    iris = {iri}
    for st in stmts.values():
        for x in (st.s, st.p, st.o):
            if isinstance(x, NamedNode):
                iris.add(x.value)
    for f in facts.values():
        iris.update(x.value for x in f.get(PROV + "wasDerivedFrom", [])
                    if isinstance(x, NamedNode))
    claims = claims_about(iri)
    for c in claims:
        iris.update(c["iris"])  # type: ignore[arg-type]
    labels = Labels.lookup(iris)

    def row(st: Statement, other: object) -> dict[str, object]:
        return {
            "value": view_term(other, labels),
            "inferred": st.inferred,
            "graphs": sorted(g for g in st.graphs),
            "explain": explain_href(st) if st.inferred else None,
            "facts": [dict(f, derived_from=[view_term(NamedNode(d), labels)
                                            for d in f["derived_from"]])  # type: ignore[union-attr]
                      for f in st.facts],
        }

    outgoing: dict[str, list[dict[str, object]]] = defaultdict(list)
    incoming: dict[str, list[dict[str, object]]] = defaultdict(list)
    types, descriptions, alt_labels, wikidata = [], [], [], []
    label_values: list[dict[str, object]] = []
    for st in sorted(stmts.values(), key=lambda x: (x.inferred, str(x.p), str(x.o), str(x.s))):
        p = st.p.value
        if st.s == me:
            if p == KGO + "hasMention":
                continue
            if p == RDF_TYPE and isinstance(st.o, NamedNode):
                types.append(row(st, st.o))
                continue
            if p in (RDFS_LABEL,) and isinstance(st.o, Literal):
                label_values.append(row(st, st.o))
            if p == SKOS + "altLabel":
                alt_labels.append(row(st, st.o))
            if p in DESCRIPTION_PROPS and isinstance(st.o, Literal):
                descriptions.append(row(st, st.o))
            if p in LINK_PROPS and isinstance(st.o, NamedNode) \
                    and st.o.value.startswith(WIKIDATA_ENTITY):
                wikidata.append(dict(row(st, st.o), relation=LINK_PROPS[p],
                                     qid=st.o.value[len(WIKIDATA_ENTITY):],
                                     snapshot=snapshot_statements(st.o.value)))
            outgoing[p].append(row(st, st.o))
        if st.o == me and st.s != me:
            incoming[p].append(row(st, st.s))

    def groups(by_p: dict[str, list[dict[str, object]]], incoming: bool = False
               ) -> list[dict[str, object]]:
        out = []
        for p, vals in sorted(by_p.items(), key=lambda kv: (_rank(kv[0]), short(kv[0]))):
            more = len(vals) - PER_PROPERTY
            query = (f"SELECT ?subject WHERE {{ ?subject <{p}> <{iri}> }}" if incoming
                     else f"SELECT ?value WHERE {{ <{iri}> <{p}> ?value }}")
            out.append({"property": view_term(NamedNode(p), labels),
                        "values": vals[:PER_PROPERTY], "more": max(more, 0),
                        "more_href": f"{request.script_root}/?{urlencode({'query': query})}"
                        if more > 0 else None})
        return out

    for c in claims:
        for key in ("claim", "claimant", "reporter", "reported_in", "stance"):
            c[key] = [view_term(NamedNode(x), labels) for x in c[key]]  # type: ignore[union-attr]
    title = labels.get(iri) or short(iri)
    is_document = iri.startswith(DOCUMENT)
    return {
        "iri": iri,
        "title": title,
        "short": short(iri),
        "types": types,
        "labels": label_values,
        "alt_labels": alt_labels,
        "descriptions": descriptions,
        "wikidata": wikidata,
        "outgoing": groups(outgoing),
        "incoming": groups(incoming, incoming=True),
        "mentions": mentions,
        "claims": claims,
        "article": (f"{request.script_root}/article/{quote(iri[len(DOCUMENT):], safe='')}"
                    if is_document else None),
        "counts": {"statements": len(stmts), "inferred": sum(s.inferred for s in stmts.values()),
                   "quotes": len(quotes)},
    }


WDT = PREFIXES["wdt"]


def snapshot_statements(item: str) -> list[dict[str, str]]:
    """What the offline Wikidata snapshot says about a linked item (``wdt:`` values)."""
    if not iri_ok(item):
        return []
    rows = select(f"""SELECT ?p ?o ?label WHERE {{ GRAPH <{GRAPH_WIKIDATA}> {{
  <{item}> ?p ?o FILTER(STRSTARTS(STR(?p), "{WDT}"))
  OPTIONAL {{ ?o <{RDFS_LABEL}> ?label FILTER(LANGMATCHES(LANG(?label), "en")) }} }}
}} ORDER BY ?p ?o LIMIT 200""")
    out: dict[tuple[str, str], dict[str, str]] = {}
    for p, o, label in rows:
        pid = p.value[len(WDT):]  # type: ignore[union-attr]
        if isinstance(o, NamedNode):
            qid = o.value[len(WIKIDATA_ENTITY):] if o.value.startswith(WIKIDATA_ENTITY) else o.value
            text = label.value if isinstance(label, Literal) else qid
            out.setdefault((pid, o.value), {"pid": pid, "text": text, "qid": qid})
        else:
            out.setdefault((pid, str(o)), {"pid": pid, "text": getattr(o, "value", str(o)),
                                           "qid": ""})
    return list(out.values())


def _rank(prop: str) -> int:
    """Where a property's group goes on the page: the domain's own (``kgo:``) first,
    then other vocabularies, labels and comments last."""
    if prop.startswith(KGO):
        return 0
    return 2 if prop.startswith((RDFS, SKOS, RDF)) else 1


def explain_href(st: Statement) -> str:
    """The explanation page of an inferred statement."""
    params = {"s": st.s.value if isinstance(st.s, NamedNode) else str(st.s), "p": st.p.value,
              "o": nt_object(st.o)}
    return f"{request.script_root}/explain?{urlencode(params)}"


def claims_about(iri: str) -> list[dict[str, object]]:
    """Attributed claims that name ``iri`` (about it, by it, reported by it...), with
    claimant, reporter, where reported, stance, date and words."""
    rows = select(f"""SELECT ?c ?role ?claimant ?reporter ?in ?stance ?date ?text WHERE {{
  ?c a <{KGO}AttributedClaim> ; ?role <{iri}> .
  FILTER(?role NOT IN (<{RDF}subject>, <{RDF}object>))
  OPTIONAL {{ ?c <{KGO}claimant> ?claimant }}
  OPTIONAL {{ ?c <{KGO}reportedBy> ?reporter }}
  OPTIONAL {{ ?c <{KGO}reportedIn> ?in }}
  OPTIONAL {{ ?c <{KGO}stance> ?stance }}
  OPTIONAL {{ ?c <{KGO}claimDate> ?date }}
  OPTIONAL {{ ?c <{KGO}claimText> ?text }}
}} LIMIT {MAX_ROWS}""")
    claims: dict[str, dict[str, object]] = {}
    for c, role, claimant, reporter, where, stance, date, text in rows:
        entry = claims.setdefault(c.value, {  # type: ignore[union-attr]
            "iri": c.value, "roles": set(), "claimant": set(), "reporter": set(),  # type: ignore[union-attr]
            "reported_in": set(), "stance": set(), "date": None, "text": None})
        entry["roles"].add(role.value)  # type: ignore[union-attr, attr-defined]
        for key, v in (("claimant", claimant), ("reporter", reporter),
                       ("reported_in", where), ("stance", stance)):
            if isinstance(v, NamedNode):
                entry[key].add(v.value)  # type: ignore[attr-defined]
        if isinstance(date, Literal):
            entry["date"] = date.value
        if isinstance(text, Literal):
            entry["text"] = text.value
    out = []
    for iri_c, e in sorted(claims.items()):
        roles = sorted(e["roles"])  # type: ignore[arg-type]
        item = {"claim": [iri_c], "roles": [short(r) for r in roles],
                "claimant": sorted(e["claimant"]), "reporter": sorted(e["reporter"]),  # type: ignore[arg-type]
                "reported_in": sorted(e["reported_in"]), "stance": sorted(e["stance"]),  # type: ignore[arg-type]
                "date": e["date"], "text": e["text"]}
        item["iris"] = {iri_c, *roles, *item["claimant"], *item["reporter"],  # type: ignore[misc]
                        *item["reported_in"], *item["stance"]}
        out.append(item)
    return out


# -- content negotiation -----------------------------------------------------------------

def choose_media() -> str | None:
    """The representation asked for: ``?format=`` wins over ``Accept``; ``None`` -> 406."""
    name = request.args.get("format")
    if name:
        name = name.strip().lower()
        if name in ("html", HTML, "application/xhtml+xml"):
            return HTML
        for f in RDF_FORMATS:
            if name in f.names or name == f.media_type:
                return f.media_type
        return None
    chosen = negotiate(request.headers.get("Accept"), OFFERS)
    if chosen is None:
        return None
    if chosen == "application/xhtml+xml":
        return HTML
    for f in RDF_FORMATS:
        if chosen == f.media_type or chosen in f.aliases:
            return f.media_type
    return chosen


def not_acceptable() -> Response:
    offered = ", ".join([HTML] + [f.media_type for f in RDF_FORMATS])
    return Response(f"none of the media types in Accept can be served here; this URL offers "
                    f"{offered} (or ?format=ttl, nt, rdf, jsonld, trig, nq, html)\n",
                    status=406, mimetype="text/plain", headers={"Vary": "Accept"})


def representation_headers(path: str, media: str) -> dict[str, str]:
    """``Vary``, ``Content-Location`` of the chosen representation and links to the others."""
    base = request.script_root + path
    links = [f'<{base}?format={SHORT[m]}>; rel="alternate"; type="{m}"'
             for m in [HTML] + [f.media_type for f in RDF_FORMATS] if m != media]
    return {"Vary": "Accept", "Content-Location": f"{base}?format={SHORT[media]}",
            "Link": ", ".join(links)}


def rdf_response(quads: Sequence[Quad], media: str, path: str) -> Response:
    """Quads in an RDF media type (graph names kept by TriG and N-Quads only)."""
    if media in ("application/trig", "application/n-quads"):
        items: list[Triple | Quad] = list(quads)
    else:
        seen: set[Triple] = set()
        items = []
        for q in quads:
            t = Triple(q.subject, q.predicate, q.object)
            if t not in seen:
                seen.add(t)
                items.append(t)
    body = b"".join(stream_rdf(items, media, prefixes=PREFIXES))
    resp = Response(body, mimetype=media, headers=representation_headers(path, media))
    if media in ("text/turtle", "application/n-triples", "application/trig",
                 "application/n-quads"):
        resp.charset = "utf-8"
    return resp


def _alternates(path: str) -> list[dict[str, str]]:
    base = request.script_root + path
    names = {"text/turtle": "Turtle", "application/ld+json": "JSON-LD",
             "application/rdf+xml": "RDF/XML", "application/n-triples": "N-Triples",
             "application/trig": "TriG (with graphs)", "application/n-quads": "N-Quads"}
    return [{"media": m, "name": n, "href": f"{base}?format={SHORT[m]}"} for m, n in names.items()]


def html_not_found(message: str) -> Response:
    resp = Response(render_template("resource.html", entity=None, message=message,
                                    alternates=[]), status=404, mimetype=HTML)
    resp.headers["Vary"] = "Accept"
    return resp


@bp.get("/resource/<path:name>")
def resource(name: str) -> Response:
    """An individual of the knowledge base (``kgr:NAME``), as a page or as RDF."""
    media = choose_media()
    if media is None:
        return not_acceptable()
    iri = KGR + name
    path = "/resource/" + quote(name, safe=_PATH_SAFE)
    quads: list[Quad] = []
    truncated = False
    if iri_ok(iri):
        slot = read_slot()
        try:
            quads, truncated = describe(iri)
            view = entity_view(iri, quads) if quads and media == HTML else None
        finally:
            slot.release()
    if not quads:
        message = f"{short(iri)} is not in this knowledge base"
        if media == HTML:
            return html_not_found(message)
        return Response(message + "\n", status=404, mimetype="text/plain",
                        headers={"Vary": "Accept"})
    if media != HTML:
        return rdf_response(quads, media, path)
    html = render_template("resource.html", entity=view, message=None, truncated=truncated,
                           limit=MAX_ROWS, alternates=_alternates(path))
    return Response(html, mimetype=HTML, headers=representation_headers(path, HTML))


# -- the ontology --------------------------------------------------------------------------

def ontology_quads() -> tuple[list[Quad], str]:
    """The ontology graph as the store holds it, or, when the store lacks it (a store
    not bootstrapped), as the files in ``ontology/`` give it; and which of the two."""
    rows = select(f"SELECT ?s ?p ?o WHERE {{ GRAPH <{GRAPH_ONTOLOGY}> {{ ?s ?p ?o }} }} "
                  f"LIMIT {MAX_ROWS}")
    graph = NamedNode(GRAPH_ONTOLOGY)
    if rows:
        return [Quad(s, p, o, graph) for s, p, o in rows], "store"  # type: ignore[arg-type]
    return shipped_ontology(kgraph().settings.ontology_dir), "files"


_SHIPPED: dict[tuple[str, ...], list[Quad]] = {}


def shipped_ontology(folder: Path) -> list[Quad]:
    """The ontology files as quads of the ontology graph (parsed once per set of files)."""
    from ..bootstrap import digest, ontology_files
    from ..loader import parse_files

    files = ontology_files(folder)
    if not files:
        return []
    key = (str(folder), digest(files))
    if key not in _SHIPPED:
        _SHIPPED.clear()
        _SHIPPED[key] = list(parse_files(files, GRAPH_ONTOLOGY, progress=False))
    return _SHIPPED[key]


@dataclass
class OntologyIndex:
    """The ontology's triples, indexed by subject, to render terms and axioms readably."""

    quads: Sequence[Quad]
    by_s: dict[object, dict[str, list[object]]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_s = defaultdict(lambda: defaultdict(list))
        for q in self.quads:
            self.by_s[q.subject][q.predicate.value].append(q.object)

    def values(self, s: object, p: str) -> list[object]:
        return list(self.by_s.get(s, {}).get(p, []))

    def first(self, s: object, p: str) -> object | None:
        v = self.values(s, p)
        return v[0] if v else None

    def rdf_list(self, node: object) -> list[object]:
        items: list[object] = []
        seen = set()
        while isinstance(node, BlankNode | NamedNode) and node.value != RDF + "nil" \
                and node not in seen and len(items) < 1000:
            seen.add(node)
            first = self.first(node, RDF + "first")
            if first is None:
                break
            items.append(first)
            node = self.first(node, RDF + "rest")
        return items

    def label(self, iri: str) -> str | None:
        for p in (RDFS_LABEL, SKOS + "prefLabel"):
            for v in self.values(NamedNode(iri), p):
                if isinstance(v, Literal) and v.language in (None, "", "en"):
                    return v.value
        return None

    def expr(self, node: object, depth: int = 0) -> dict[str, object]:
        """A class expression as a tree of parts a template writes in Manchester style."""
        if isinstance(node, NamedNode):
            return {"kind": "iri", "iri": node.value, "href": href(node.value),
                    "short": short(node.value), "label": self.label(node.value)}
        if isinstance(node, Literal):
            return {"kind": "literal", "value": node.value}
        if depth > 20:
            return {"kind": "text", "value": "…"}
        s = node
        for p, word in ((OWL + "intersectionOf", "and"), (OWL + "unionOf", "or")):
            lst = self.first(s, p)
            if lst is not None:
                return {"kind": "nary", "op": word,
                        "items": [self.expr(x, depth + 1) for x in self.rdf_list(lst)]}
        one_of = self.first(s, OWL + "oneOf")
        if one_of is not None:
            return {"kind": "oneof", "items": [self.expr(x, depth + 1)
                                               for x in self.rdf_list(one_of)]}
        comp = self.first(s, OWL + "complementOf")
        if comp is not None:
            return {"kind": "not", "item": self.expr(comp, depth + 1)}
        prop = self.first(s, OWL + "onProperty")
        if prop is not None:
            on = self.expr(prop, depth + 1)
            inverse = self.first(prop, OWL + "inverseOf") if isinstance(prop, BlankNode) else None
            if inverse is not None:
                on = {"kind": "inverse", "item": self.expr(inverse, depth + 1)}
            for p, word in ((OWL + "someValuesFrom", "some"), (OWL + "allValuesFrom", "only"),
                            (OWL + "hasValue", "value")):
                v = self.first(s, p)
                if v is not None:
                    return {"kind": "restriction", "on": on, "op": word,
                            "filler": self.expr(v, depth + 1)}
            for p, word in ((OWL + "cardinality", "exactly"), (OWL + "minCardinality", "min"),
                            (OWL + "maxCardinality", "max"),
                            (OWL + "qualifiedCardinality", "exactly"),
                            (OWL + "minQualifiedCardinality", "min"),
                            (OWL + "maxQualifiedCardinality", "max")):
                v = self.first(s, p)
                if v is not None:
                    filler = self.first(s, OWL + "onClass") or self.first(s, OWL + "onDataRange")
                    return {"kind": "restriction", "on": on, "op": word,
                            "n": getattr(v, "value", str(v)),
                            "filler": self.expr(filler, depth + 1) if filler else None}
            if self.first(s, OWL + "hasSelf") is not None:
                return {"kind": "restriction", "on": on, "op": "Self", "filler": None}
        inverse = self.first(s, OWL + "inverseOf")
        if inverse is not None:
            return {"kind": "inverse", "item": self.expr(inverse, depth + 1)}
        return {"kind": "text", "value": "(an anonymous class)"}


#: Property characteristics, by the class that declares them.
CHARACTERISTICS = {OWL + n: n.replace("Property", "") for n in (
    "FunctionalProperty", "InverseFunctionalProperty", "TransitiveProperty", "SymmetricProperty",
    "AsymmetricProperty", "ReflexiveProperty", "IrreflexiveProperty")}
PROPERTY_KINDS = {OWL + "ObjectProperty": "object property",
                  OWL + "DatatypeProperty": "datatype property",
                  OWL + "AnnotationProperty": "annotation property"}


def ontology_view(quads: Sequence[Quad]) -> dict[str, object]:
    """Classes, properties and individuals of the kgo: namespace, with their axioms."""
    ix = OntologyIndex(quads)
    typed: dict[str, set[str]] = defaultdict(set)
    for q in quads:
        if q.predicate.value == RDF_TYPE and isinstance(q.subject, NamedNode) \
                and isinstance(q.object, NamedNode):
            typed[q.subject.value].add(q.object.value)

    def texts(iri: str, props: Iterable[str]) -> list[str]:
        return [v.value for p in props for v in ix.values(NamedNode(iri), p)  # type: ignore[attr-defined]
                if isinstance(v, Literal) and v.language in (None, "", "en")]

    def exprs(iri: str, p: str) -> list[dict[str, object]]:
        return [ix.expr(v) for v in ix.values(NamedNode(iri), p)]

    def term(iri: str) -> dict[str, object]:
        return {"iri": iri, "local": iri[len(KGO):], "short": short(iri),
                "label": ix.label(iri), "definitions": texts(iri, DESCRIPTION_PROPS),
                "see_also": exprs(iri, RDFS + "seeAlso") + exprs(iri, SKOS + "exactMatch")
                + exprs(iri, SKOS + "closeMatch")}

    # disjointness: pairwise owl:disjointWith and owl:AllDisjointClasses groups
    disjoint: dict[str, list[dict[str, object]]] = defaultdict(list)
    for q in quads:
        if q.predicate.value == OWL + "disjointWith" and isinstance(q.subject, NamedNode):
            disjoint[q.subject.value].append(ix.expr(q.object))
            if isinstance(q.object, NamedNode):
                disjoint[q.object.value].append(ix.expr(q.subject))
    for node, types in ((q.subject, q.object) for q in quads if q.predicate.value == RDF_TYPE):
        if getattr(types, "value", None) == OWL + "AllDisjointClasses":
            members = ix.rdf_list(ix.first(node, OWL + "members"))
            for m in members:
                if isinstance(m, NamedNode):
                    disjoint[m.value].extend(ix.expr(x) for x in members if x != m)
    sub_of: dict[str, list[str]] = defaultdict(list)
    for q in quads:
        if q.predicate.value == RDFS + "subClassOf" and isinstance(q.object, NamedNode) \
                and isinstance(q.subject, NamedNode):
            sub_of[q.object.value].append(q.subject.value)

    classes, properties, individuals = [], [], []
    for iri in sorted(typed, key=lambda i: i.lower()):
        if not iri.startswith(KGO):
            continue
        kinds = typed[iri]
        if OWL + "Class" in kinds or RDFS + "Class" in kinds:
            c = term(iri)
            c["superclasses"] = exprs(iri, RDFS + "subClassOf")
            c["equivalent"] = exprs(iri, OWL + "equivalentClass")
            c["disjoint"] = disjoint.get(iri, [])
            c["subclasses"] = [ix.expr(NamedNode(x)) for x in sorted(sub_of.get(iri, []))]
            c["instances"] = [ix.expr(NamedNode(x)) for x, ts in sorted(typed.items())
                              if iri in ts and OWL + "NamedIndividual" in ts]
            classes.append(c)
        elif kinds & set(PROPERTY_KINDS) or RDF + "Property" in kinds:
            p = term(iri)
            p["kind"] = next((v for k, v in PROPERTY_KINDS.items() if k in kinds), "property")
            p["characteristics"] = sorted(v for k, v in CHARACTERISTICS.items() if k in kinds)
            p["domain"] = exprs(iri, RDFS + "domain")
            p["range"] = exprs(iri, RDFS + "range")
            p["superproperties"] = exprs(iri, RDFS + "subPropertyOf")
            p["inverse"] = exprs(iri, OWL + "inverseOf")
            for q in quads:  # declared from the other side
                if q.predicate.value == OWL + "inverseOf" and q.object == NamedNode(iri):
                    p["inverse"].append(ix.expr(q.subject))  # type: ignore[attr-defined]
            p["equivalent"] = exprs(iri, OWL + "equivalentProperty")
            p["disjoint"] = exprs(iri, OWL + "propertyDisjointWith")
            p["chains"] = [[ix.expr(x) for x in ix.rdf_list(v)]
                           for v in ix.values(NamedNode(iri), OWL + "propertyChainAxiom")]
            properties.append(p)
        elif OWL + "NamedIndividual" in kinds:
            i = term(iri)
            i["types"] = [ix.expr(NamedNode(t)) for t in sorted(kinds)
                          if t != OWL + "NamedIndividual"]
            individuals.append(i)
    header = NamedNode(ONTOLOGY_IRI)
    meta = {
        "title": next(iter(texts(ONTOLOGY_IRI, [PREFIXES["dcterms"] + "title", RDFS_LABEL])), None),
        "description": texts(ONTOLOGY_IRI, [PREFIXES["dcterms"] + "description"]),
        "version": [getattr(v, "value", "") for v in ix.values(header, OWL + "versionIRI")]
        + [getattr(v, "value", "") for v in ix.values(header, OWL + "versionInfo")],
        "license": [ix.expr(v) for v in ix.values(header, PREFIXES["dcterms"] + "license")],
    }
    return {"meta": meta, "classes": classes, "properties": properties,
            "individuals": individuals, "triples": len(quads)}


@bp.get("/ontology")
def ontology() -> Response:
    """The ontology (``kgo:``) as a page of its terms, or as RDF."""
    media = choose_media()
    if media is None:
        return not_acceptable()
    slot = read_slot()
    try:
        quads, origin = ontology_quads()
    finally:
        slot.release()
    if not quads:
        return Response("this server has no ontology loaded\n", status=404, mimetype="text/plain",
                        headers={"Vary": "Accept"})
    if media != HTML:
        return rdf_response(quads, media, "/ontology")
    html = render_template("ontology.html", onto=ontology_view(quads), origin=origin,
                           alternates=_alternates("/ontology"))
    return Response(html, mimetype=HTML, headers=representation_headers("/ontology", HTML))
