"""The pictures: ``/graph``, ``/timeline``, ``/article``, ``/scenario`` and ``/explain``.

Each page is HTML that draws itself from JSON this module serves (``/graph/data``,
``/timeline/data``) or from the reasoning endpoints (``/reason/scenario``,
``/reason/explain``). Everything comes from the store with bounded queries; the
article's text is the file the store names (``kgo:sourceText``) and is shown only
when its SHA-256 is the one the store recorded (``kgo:sha256``), so that every
quote's offsets point at the words they were checked against at ingest.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request
from markupsafe import Markup, escape
from pyoxigraph import Literal, NamedNode

from ..namespaces import (
    DCT,
    DOCUMENT,
    GRAPH_INFERRED,
    GRAPH_ONTOLOGY,
    KGO,
    KGR,
    OA,
    PREFIXES,
    RDF,
    RDFS,
    XSD,
)
from .linked_data import (
    MAX_ROWS,
    Labels,
    iri_ok,
    kgraph,
    read_slot,
    resource_path,
    select,
    short,
)

bp = Blueprint("pages", __name__)

#: The kinds of node the graph and timeline tell apart: (kind, top class), first match wins.
KINDS = [
    ("state", KGO + "State"),
    ("person", KGO + "Person"),
    ("treaty", KGO + "Treaty"),
    ("obligation", KGO + "Obligation"),
    ("claim", KGO + "AttributedClaim"),
    ("event", KGO + "Event"),
    ("organization", KGO + "Organization"),
    ("organization", KGO + "Group"),
    ("document", KGO + "Document"),
]
KIND_NAMES = {"state": "States", "person": "People", "treaty": "Treaties",
              "obligation": "Obligations", "claim": "Claims", "event": "Events",
              "organization": "Organizations", "document": "Documents", "other": "Other"}
#: Bookkeeping resources that are not part of the picture.
NOT_NODES = (KGO + "Fact", KGO + "Quote", OA + "TextPositionSelector", OA + "TextQuoteSelector")
DATE_TYPES = {XSD + "date": "date", XSD + "dateTime": "dateTime", XSD + "gYear": "gYear",
              XSD + "gYearMonth": "gYearMonth"}


def link(iri: str) -> str | None:
    local = resource_path(iri)
    return request.script_root + local if local else None


def kinds_of_resources() -> dict[str, str]:
    """Each typed ``kgr:`` resource's kind, from its types and the ontology's class tree
    (so it works whether or not the inferred graph exists)."""
    tops = " ".join(f'(<{c}> {i})' for i, (_, c) in enumerate(KINDS))
    not_nodes = ", ".join(f"<{c}>" for c in NOT_NODES)
    rows = select(f"""SELECT DISTINCT ?x ?rank WHERE {{
  GRAPH ?g {{ ?x a ?c }}
  FILTER(?g != <{GRAPH_ONTOLOGY}> && isIRI(?x) && STRSTARTS(STR(?x), "{KGR}"))
  FILTER NOT EXISTS {{ ?x a ?bookkeeping FILTER(?bookkeeping IN ({not_nodes})) }}
  OPTIONAL {{ VALUES (?top ?rank) {{ {tops} }} ?c <{RDFS}subClassOf>* ?top }}
}} LIMIT {MAX_ROWS}""")
    ranks: dict[str, int] = {}
    for x, rank in rows:
        r = int(rank.value) if isinstance(rank, Literal) else len(KINDS)  # type: ignore[union-attr]
        ranks[x.value] = min(r, ranks.get(x.value, r))  # type: ignore[union-attr]
    return {x: KINDS[r][0] if r < len(KINDS) else "other" for x, r in ranks.items()}


# -- graph -------------------------------------------------------------------------------

@bp.get("/graph")
def graph_page() -> str:
    return render_template("graph.html", kinds=KIND_NAMES)


@bp.get("/graph/data")
def graph_data() -> Response:
    """Nodes (typed resources with their kind) and edges (``kgo:`` links between them),
    inferred edges marked, for vis-network."""
    slot = read_slot()
    try:
        kinds = kinds_of_resources()
        rows = select(f"""SELECT ?s ?p ?o (GROUP_CONCAT(STR(?g); separator=" ") AS ?gs) WHERE {{
  GRAPH ?g {{ ?s ?p ?o }}
  FILTER(isIRI(?o) && STRSTARTS(STR(?s), "{KGR}") && STRSTARTS(STR(?o), "{KGR}")
         && STRSTARTS(STR(?p), "{KGO}") && ?p NOT IN (<{KGO}hasMention>, <{KGO}hasEvidence>))
}} GROUP BY ?s ?p ?o LIMIT {MAX_ROWS}""")
        labels = Labels.lookup(list(kinds) + [r[1].value for r in rows])  # type: ignore[union-attr]
    finally:
        slot.release()
    nodes = [{"id": iri, "label": labels.get(iri) or short(iri), "kind": kind,
              "curie": short(iri), "href": link(iri)}
             for iri, kind in sorted(kinds.items())]
    edges = []
    for s, p, o, gs in rows:
        if s.value not in kinds or o.value not in kinds:  # type: ignore[union-attr]
            continue
        graphs = set(gs.value.split()) if isinstance(gs, Literal) else set()
        edges.append({"from": s.value, "to": o.value, "property": short(p.value),  # type: ignore[union-attr]
                      "label": labels.get(p.value) or short(p.value),  # type: ignore[union-attr]
                      "inferred": graphs == {GRAPH_INFERRED}})
    return jsonify(nodes=nodes, edges=edges, kinds=KIND_NAMES)


# -- timeline ----------------------------------------------------------------------------

def _vis_dates(value: str, kind: str) -> tuple[str, str | None] | None:
    """A literal date as vis-timeline start (and end, for a year or a month)."""
    try:
        if kind == "gYear":
            year = int(value[:5] if value.startswith("-") else value[:4])
            return f"{year:04d}-01-01", f"{year:04d}-12-31"
        if kind == "gYearMonth":
            year, month = int(value[:4]), int(value[5:7])
            end_month = f"{year + 1:04d}-01-01" if month == 12 else f"{year:04d}-{month + 1:02d}-01"
            return f"{year:04d}-{month:02d}-01", end_month
        if kind == "date":
            return value[:10], None
        return value[:19], None
    except ValueError:
        return None


@bp.get("/timeline")
def timeline_page() -> str:
    return render_template("timeline.html", kinds=KIND_NAMES)


@bp.get("/timeline/data")
def timeline_data() -> Response:
    """Every dated statement the sources make about a resource (events' dates, signings,
    claims, publication), grouped by the resource's kind, for vis-timeline."""
    dtypes = ", ".join(f"<{d}>" for d in DATE_TYPES)
    slot = read_slot()
    try:
        kinds = kinds_of_resources()
        rows = select(f"""SELECT DISTINCT ?x ?p ?d WHERE {{
  GRAPH ?g {{ ?x ?p ?d }}
  FILTER(?g != <{GRAPH_INFERRED}> && ?g != <{GRAPH_ONTOLOGY}> && isLiteral(?d)
         && DATATYPE(?d) IN ({dtypes}) && STRSTARTS(STR(?x), "{KGR}")
         && (STRSTARTS(STR(?p), "{KGO}") || STRSTARTS(STR(?p), "{DCT}")))
}} LIMIT {MAX_ROWS}""")
        labels = Labels.lookup([r[0].value for r in rows] + [r[1].value for r in rows])  # type: ignore[union-attr]
    finally:
        slot.release()
    items = []
    for x, p, d in rows:
        dates = _vis_dates(d.value, DATE_TYPES.get(d.datatype.value, "date"))  # type: ignore[union-attr]
        if dates is None:
            continue
        kind = kinds.get(x.value, "other")  # type: ignore[union-attr]
        item = {"id": f"{x.value} {p.value} {d.value}", "group": kind,  # type: ignore[union-attr]
                "content": labels.get(x.value) or short(x.value),  # type: ignore[union-attr]
                "start": dates[0], "iri": x.value, "href": link(x.value),  # type: ignore[union-attr]
                "property": labels.get(p.value) or short(p.value), "date": d.value,  # type: ignore[union-attr]
                "precision": DATE_TYPES.get(d.datatype.value, "date")}  # type: ignore[union-attr]
        if dates[1]:
            item["end"] = dates[1]
        items.append(item)
    items.sort(key=lambda i: (i["start"], i["id"]))
    groups = [{"id": k, "content": KIND_NAMES[k]} for k in KIND_NAMES
              if any(i["group"] == k for i in items)]
    return jsonify(items=items, groups=groups)


# -- article -----------------------------------------------------------------------------

def documents() -> list[dict[str, object]]:
    """The source documents whose text the store names, with title and date."""
    rows = select(f"""SELECT ?d ?file ?sha ?title ?issued WHERE {{
  ?d <{KGO}sourceText> ?file . OPTIONAL {{ ?d <{KGO}sha256> ?sha }}
  OPTIONAL {{ ?d <{DCT}title> ?title }} OPTIONAL {{ ?d <{DCT}issued> ?issued }}
  FILTER(STRSTARTS(STR(?d), "{DOCUMENT}"))
}} ORDER BY ?d LIMIT 1000""")
    out: dict[str, dict[str, object]] = {}
    for d, file, sha, title, issued in rows:
        out.setdefault(d.value, {  # type: ignore[union-attr]
            "iri": d.value, "id": d.value[len(DOCUMENT):], "file": file.value,  # type: ignore[union-attr]
            "sha256": sha.value if sha is not None else None,  # type: ignore[union-attr]
            "title": title.value if title is not None else d.value,  # type: ignore[union-attr]
            "issued": issued.value if issued is not None else None})  # type: ignore[union-attr]
    return list(out.values())


def source_text(doc: dict[str, object]) -> tuple[str | None, str | None]:
    """The document's text from ``data/sources/`` and, when it cannot be shown, why."""
    name = Path(str(doc["file"])).name  # a file name, never a path out of the folder
    path = kgraph().settings.data_dir / "sources" / name
    try:
        data = path.read_bytes()
    except OSError:
        return None, f"the text file {name} that the store names is not on this server"
    if doc.get("sha256") and hashlib.sha256(data).hexdigest() != doc["sha256"]:
        return None, (f"the text file {name} has changed since it was ingested (its SHA-256 "
                      "differs from the store's), so the quotes' offsets would not fit it")
    return data.decode("utf-8", errors="replace"), None


def article_quotes(doc_iri: str) -> dict[str, dict[str, object]]:
    """The document's quotes by ``START-END``: words, the facts they evidence, the
    resources they mention."""
    rows = select(f"""SELECT ?q ?start ?end ?exact WHERE {{
  ?q <{OA}hasSource> <{doc_iri}> ; <{OA}hasSelector> ?ps, ?es .
  ?ps <{OA}start> ?start ; <{OA}end> ?end . ?es <{OA}exact> ?exact
}} LIMIT {MAX_ROWS}""")
    facts = select(f"""SELECT ?q ?s ?p ?o ?derived WHERE {{
  ?q <{OA}hasSource> <{doc_iri}> . ?f <{KGO}hasEvidence> ?q ;
     <{RDF}subject> ?s ; <{RDF}predicate> ?p ; <{RDF}object> ?o .
  OPTIONAL {{ ?f <{KGO}derivation> ?derived }}
}} LIMIT {MAX_ROWS}""")
    mentions = select(f"""SELECT ?q ?x WHERE {{
  ?q <{OA}hasSource> <{doc_iri}> . ?x <{KGO}hasMention> ?q
}} LIMIT {MAX_ROWS}""")
    iris = {t.value for row in facts for t in row[1:4] if isinstance(t, NamedNode)}
    iris.update(row[1].value for row in mentions)  # type: ignore[union-attr]
    labels = Labels.lookup(iris)

    def ref(t: object) -> dict[str, object]:
        if isinstance(t, NamedNode):
            return {"text": labels.get(t.value) or short(t.value), "iri": t.value,
                    "href": link(t.value) or (t.value if t.value.startswith("http") else None)}
        return {"text": getattr(t, "value", str(t)), "iri": None, "href": None}

    by_node: dict[str, dict[str, object]] = {}
    for q, start, end, exact in rows:
        try:
            s, e = int(start.value), int(end.value)  # type: ignore[union-attr]
        except ValueError:
            continue
        by_node[q.value] = {"start": s, "end": e, "exact": exact.value,  # type: ignore[union-attr]
                            "facts": [], "mentions": []}
    for q, s, p, o, derived in facts:
        entry = by_node.get(q.value)  # type: ignore[union-attr]
        if entry is not None:
            entry["facts"].append({"s": ref(s), "p": ref(p), "o": ref(o),  # type: ignore[attr-defined]
                                   "derived": derived.value if derived is not None else None})  # type: ignore[union-attr]
    for q, x in mentions:
        entry = by_node.get(q.value)  # type: ignore[union-attr]
        if entry is not None:
            entry["mentions"].append(ref(x))  # type: ignore[attr-defined]
    out: dict[str, dict[str, object]] = {}
    for entry in by_node.values():
        key = f"{entry['start']}-{entry['end']}"
        if key in out:  # two quote nodes at one span: one entry with both's facts
            out[key]["facts"].extend(entry["facts"])  # type: ignore[attr-defined]
            out[key]["mentions"].extend(entry["mentions"])  # type: ignore[attr-defined]
        else:
            out[key] = entry
    for entry in out.values():
        entry["facts"].sort(key=lambda f: (f["s"]["text"], f["p"]["text"], str(f["o"]["text"])))  # type: ignore[attr-defined, index]
    return out


def highlighted(text: str, quotes: dict[str, dict[str, object]]) -> Markup:
    """The text as HTML, every quoted span wrapped (overlaps split into segments that name
    all the quotes covering them) with an anchor ``q-START-END`` where each quote begins."""
    spans = [(int(q["start"]), int(q["end"]), k) for k, q in quotes.items()  # type: ignore[call-overload]
             if 0 <= int(q["start"]) < int(q["end"]) <= len(text)]  # type: ignore[call-overload]
    cuts = sorted({0, len(text), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    starts: dict[int, list[str]] = defaultdict(list)
    for s, _, k in spans:
        starts[s].append(k)
    parts: list[str] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        for k in sorted(starts.get(a, [])):
            parts.append(f'<a class="kg-qa" id="q-{k}"></a>')
        covering = [k for s, e, k in spans if s <= a and b <= e]
        chunk = str(escape(text[a:b]))
        if covering:
            depth = min(len(covering), 3)
            parts.append(f'<span class="kg-q kg-q{depth}" data-q="{" ".join(covering)}">'
                         f"{chunk}</span>")
        else:
            parts.append(chunk)
    return Markup("".join(parts))  # noqa: S704 - built from escaped text and our own ids


@bp.get("/article")
def article_index() -> Response | str:
    slot = read_slot()
    try:
        docs = documents()
    finally:
        slot.release()
    if len(docs) == 1:
        return redirect(f"{request.script_root}/article/{quote(str(docs[0]['id']), safe='')}")
    return render_template("article.html", docs=docs, doc=None)


@bp.get("/article/<doc_id>")
def article(doc_id: str) -> str:
    """The text of a source document with its quotes highlighted and linked to their facts."""
    iri = DOCUMENT + doc_id
    if not iri_ok(iri):
        abort(404)
    slot = read_slot()
    try:
        doc = next((d for d in documents() if d["iri"] == iri), None)
        if doc is None:
            abort(404, description=f"no source document {doc_id!r} in this knowledge base")
        quotes = article_quotes(iri)
    finally:
        slot.release()
    text, problem = source_text(doc)
    body = highlighted(text, quotes) if text is not None else None
    ordered = sorted(quotes.items(), key=lambda kv: (kv[1]["start"], kv[1]["end"]))
    return render_template("article.html", docs=None, doc=doc, body=body, problem=problem,
                           quotes=dict(ordered), doc_href=link(iri), count=len(quotes),
                           facts=sum(len(q["facts"]) for q in quotes.values()))  # type: ignore[arg-type]


# -- scenario and explanations -----------------------------------------------------------

@bp.get("/scenario")
def scenario_page() -> str:
    """A form for a hypothetical event; the page posts it to ``/reason/scenario``."""
    slot = read_slot()
    try:
        types = select(f"""SELECT DISTINCT ?c ?l WHERE {{
  GRAPH <{GRAPH_ONTOLOGY}> {{ ?c <{RDFS}subClassOf>+ <{KGO}Event> }}
  OPTIONAL {{ ?c <{RDFS}label> ?l }} FILTER(isIRI(?c))
}} ORDER BY ?c LIMIT 1000""")
        kinds = kinds_of_resources()
        agents = [i for i, k in kinds.items() if k in ("state", "organization", "person")]
        labels = Labels.lookup(agents)
        issued = [d["issued"] for d in documents() if d.get("issued")]
    finally:
        slot.release()
    event_types = sorted({(c.value[len(KGO):], lbl.value if lbl is not None else c.value)  # type: ignore[union-attr]
                          for c, lbl in types if c.value.startswith(KGO)},  # type: ignore[union-attr]
                         key=lambda t: t[1].lower())
    order = {"state": 0, "organization": 1, "person": 2}
    parties = sorted(({"curie": short(i), "label": labels.get(i) or short(i), "kind": kinds[i]}
                      for i in agents), key=lambda a: (order[a["kind"]], a["label"].lower()))
    args = request.args
    default = {
        "type": args.get("type", "ArmedAttack"),
        "attacker": args.get("attacker", "kgr:USA"),
        "target": args.get("target", "kgr:DPRK"),
        "date": args.get("date", str(issued[0])[:10] if issued else "2021-07-10"),
        "run": args.get("run", "") in ("1", "true", "yes"),
    }
    return render_template("scenario.html", event_types=event_types, parties=parties,
                           default=default, prefixes=PREFIXES)


@bp.get("/explain")
def explain_page() -> str:
    """Why an inferred triple holds: the derivation tree from ``/reason/explain``."""
    args = {k: request.args.get(k, "") for k in ("s", "p", "o")}
    if not all(args.values()):
        abort(400, description="give s, p and o")
    labels_for = [v for v in args.values() if iri_ok(v) and ":" in v]
    slot = read_slot()
    try:
        labels = Labels.lookup(labels_for)
    finally:
        slot.release()
    shown = {k: {"text": labels.get(v) or short(v), "href": link(v)} for k, v in args.items()}
    return render_template("explain.html", args=args, shown=shown)
